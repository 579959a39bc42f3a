// Re-parsing the params the server stored with a task. They are
// to_json(spec): every field, defaults filled in, and "julia_c": null for a
// Mandelbrot task, which parse_task_spec refuses ("omit it for the default").
// A null there means "not given", so nulls are dropped before parsing.
#pragma once

#include <nlohmann/json.hpp>

#include "kernels/task_spec.h"

namespace fractal::scheduler {

[[nodiscard]] ParseResult parse_stored_params(const nlohmann::json& stored);

}  // namespace fractal::scheduler
