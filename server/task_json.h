// The task object of docs/api.md, from a storage record.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kernels/task_spec.h"
#include "storage/tasks.h"

namespace fractal::server {

// {"id", "status", "progress", "params", "created_at", "started_at",
//  "finished_at", "error", "backend", "render_ms", "iterations",
//  "download_url", "precision_used", "deep"}; unknown values are null ("deep":
//  the figures of a finished deep render, null for every other task).
[[nodiscard]] nlohmann::json task_json(const storage::TaskRecord& task);

// The stored params as a TaskSpec again (they were written by to_json, so they
// parse); nullopt if they somehow do not.
[[nodiscard]] std::optional<TaskSpec> stored_spec(const storage::TaskRecord& task);

[[nodiscard]] std::string download_url(const std::string& task_id);

}  // namespace fractal::server
