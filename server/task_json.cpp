#include "server/task_json.h"

#include "storage/timestamp.h"

namespace fractal::server {
namespace {

template <class T>
nlohmann::json or_null(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json time_or_null(const std::optional<storage::Timestamp>& t) {
  return t ? nlohmann::json(storage::to_rfc3339(*t)) : nlohmann::json(nullptr);
}

}  // namespace

std::optional<TaskSpec> stored_spec(const storage::TaskRecord& task) {
  // The stored params are to_json(spec), which parse_task_spec reads back unchanged.
  return parse_task_spec(task.params).spec;
}

std::string download_url(const std::string& task_id) { return "/download?id=" + task_id; }

nlohmann::json task_json(const storage::TaskRecord& task) {
  nlohmann::json precision = nullptr;
  if (task.precision_used) {
    precision = *task.precision_used;
  } else if (auto spec = stored_spec(task)) {
    precision = std::string(to_string(precision_used(*spec)));
  }
  const bool done = task.status == storage::TaskStatus::done;
  return {
      {"id", task.id},
      {"status", std::string(storage::to_string(task.status))},
      {"progress", done ? 1.0 : task.progress},
      {"params", task.params},
      {"created_at", storage::to_rfc3339(task.created_at)},
      {"started_at", time_or_null(task.started_at)},
      {"finished_at", time_or_null(task.finished_at)},
      {"error", or_null(task.error)},
      {"backend", or_null(task.backend)},
      {"render_ms", or_null(task.render_ms)},
      {"iterations", or_null(task.iterations)},
      {"download_url", done ? nlohmann::json(download_url(task.id)) : nlohmann::json(nullptr)},
      {"precision_used", precision},
      {"deep", done && task.deep ? *task.deep : nlohmann::json(nullptr)},
  };
}

}  // namespace fractal::server
