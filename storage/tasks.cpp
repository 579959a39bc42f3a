#include "storage/tasks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "storage/uuid.h"

namespace fractal::storage {
namespace {

// Column list shared by every query returning tasks; times travel as
// microseconds since the epoch (exact, no time zone parsing).
std::string columns(std::string_view p = "") {
  const std::string t(p);
  return t + "id::text, " + t + "owner::text, " + t + "params::text, " + t + "status, " + t + "progress, " +
         "(extract(epoch FROM " + t + "created_at) * 1000000)::bigint, " +
         "(extract(epoch FROM " + t + "started_at) * 1000000)::bigint, " +
         "(extract(epoch FROM " + t + "finished_at) * 1000000)::bigint, " + t + "error, " + t + "backend, " + t +
         "precision_used, " + t + "iterations, " + t + "render_ms, " + t + "file_path, " + t + "file_size, " + t +
         "attempts, " + t + "worker";
}
constexpr int kColumnCount = 17;

template <class T>
std::optional<T> optional_field(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

std::optional<Timestamp> optional_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return from_unix_micros(f.as<std::int64_t>());
}

TaskRecord to_task(const pqxx::row& r) {
  TaskRecord t;
  t.id = r[0].as<std::string>();
  t.owner = r[1].as<std::string>();
  t.params = nlohmann::json::parse(r[2].c_str());
  const auto status = parse_task_status(r[3].c_str());
  if (!status) throw StorageError("tasks.status has an unknown value: " + r[3].as<std::string>());
  t.status = *status;
  t.progress = r[4].as<double>();
  t.created_at = from_unix_micros(r[5].as<std::int64_t>());
  t.started_at = optional_time(r[6]);
  t.finished_at = optional_time(r[7]);
  t.error = optional_field<std::string>(r[8]);
  t.backend = optional_field<std::string>(r[9]);
  t.precision_used = optional_field<std::string>(r[10]);
  t.iterations = optional_field<std::int64_t>(r[11]);
  t.render_ms = optional_field<std::int64_t>(r[12]);
  t.file_path = optional_field<std::string>(r[13]);
  t.file_size = optional_field<std::int64_t>(r[14]);
  t.attempts = r[15].as<int>();
  t.worker = optional_field<std::string>(r[16]);
  return t;
}

StatusCounts to_counts(const pqxx::result& r) {
  StatusCounts c;
  for (const auto& row : r) {
    const auto n = row[1].as<std::int64_t>();
    switch (parse_task_status(row[0].c_str()).value_or(TaskStatus::failed)) {
      case TaskStatus::queued: c.queued = n; break;
      case TaskStatus::running: c.running = n; break;
      case TaskStatus::done: c.done = n; break;
      case TaskStatus::failed: c.failed = n; break;
      case TaskStatus::canceled: c.canceled = n; break;
    }
  }
  return c;
}

// NULL parameter for libpqxx 6 (it has no std::optional support for parameters).
const char* nullable(const std::optional<std::string>& v) { return v ? v->c_str() : nullptr; }

double clamp_progress(double p) { return std::clamp(p, 0.0, 1.0); }

}  // namespace

std::string_view to_string(TaskStatus status) noexcept {
  switch (status) {
    case TaskStatus::queued: return "queued";
    case TaskStatus::running: return "running";
    case TaskStatus::done: return "done";
    case TaskStatus::failed: return "failed";
    case TaskStatus::canceled: return "canceled";
  }
  return "unknown";
}

std::optional<TaskStatus> parse_task_status(std::string_view text) noexcept {
  for (TaskStatus s : {TaskStatus::queued, TaskStatus::running, TaskStatus::done, TaskStatus::failed,
                       TaskStatus::canceled}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

TaskCreateResult TaskRepo::create(std::string_view owner, const nlohmann::json& params,
                                  std::optional<std::string_view> idempotency_key) {
  if (idempotency_key && (idempotency_key->empty() || idempotency_key->size() > 255))
    throw std::invalid_argument("idempotency key must be 1 to 255 bytes");
  if (!is_uuid(owner)) return {CreateOutcome::unknown_owner, std::nullopt, 0};
  const std::string o(owner);
  const std::string params_text = params.dump();
  const std::optional<std::string> key =
      idempotency_key ? std::optional<std::string>(std::string(*idempotency_key)) : std::nullopt;
  const std::int64_t quota = options_.max_unfinished_per_user;

  return pool_.transact([&](pqxx::work& tx) -> TaskCreateResult {
    // Serializes this owner's creates (and nothing else: FK checks take KEY SHARE).
    if (tx.exec_params("SELECT 1 FROM users WHERE id = $1::uuid FOR NO KEY UPDATE", o).empty())
      return {CreateOutcome::unknown_owner, std::nullopt, 0};

    if (key) {
      const pqxx::result prior = tx.exec_params(
          "SELECT " + columns("t.") + ", t.params = $3::jsonb "
          "FROM idempotency_keys k JOIN tasks t ON t.id = k.task_id "
          "WHERE k.owner = $1::uuid AND k.key = $2",
          o, *key, params_text);
      if (!prior.empty()) {
        const bool same = prior[0][kColumnCount].as<bool>();
        return {same ? CreateOutcome::existing : CreateOutcome::idempotency_conflict, to_task(prior[0]), 0};
      }
    }

    const std::int64_t unfinished =
        tx.exec_params1("SELECT count(*) FROM tasks WHERE owner = $1::uuid AND status IN ('queued', 'running')", o)[0]
            .as<std::int64_t>();
    if (quota > 0 && unfinished >= quota) return {CreateOutcome::quota_exceeded, std::nullopt, unfinished};

    TaskRecord task = to_task(tx.exec_params1(
        "INSERT INTO tasks (owner, params) VALUES ($1::uuid, $2::jsonb) RETURNING " + columns(), o, params_text));
    if (key) {
      tx.exec_params0("INSERT INTO idempotency_keys (owner, key, task_id) VALUES ($1::uuid, $2, $3::uuid)", o, *key,
                      task.id);
    }
    return {CreateOutcome::created, std::move(task), unfinished};
  });
}

std::optional<TaskRecord> TaskRepo::get(std::string_view owner, std::string_view id) {
  if (!is_uuid(owner) || !is_uuid(id)) return std::nullopt;
  return pool_.transact([&](pqxx::work& tx) -> std::optional<TaskRecord> {
    const pqxx::result r = tx.exec_params("SELECT " + columns() + " FROM tasks WHERE id = $1::uuid AND owner = $2::uuid",
                                          std::string(id), std::string(owner));
    if (r.empty()) return std::nullopt;
    return to_task(r[0]);
  });
}

TaskPage TaskRepo::list(std::string_view owner, const TaskListQuery& query) {
  if (query.before && !is_uuid(*query.before)) return {{}, false};
  if (!is_uuid(owner)) return {{}, !query.before};
  const std::string o(owner);
  const int limit = std::clamp(query.limit, 0, 1000);
  const std::optional<std::string> status =
      query.status ? std::optional<std::string>(std::string(to_string(*query.status))) : std::nullopt;

  return pool_.transact([&](pqxx::work& tx) -> TaskPage {
    if (query.before &&
        tx.exec_params("SELECT 1 FROM tasks WHERE id = $1::uuid AND owner = $2::uuid", *query.before, o).empty())
      return {{}, false};
    // Keyset pagination: rows strictly after the cursor in (created_at, id) DESC
    // order; served by tasks_owner_created_idx.
    const pqxx::result r = tx.exec_params(
        "SELECT " + columns() +
            " FROM tasks"
            " WHERE owner = $1::uuid"
            "   AND ($2::text IS NULL OR status = $2::text)"
            "   AND ($3::uuid IS NULL OR (created_at, id) <"
            "        (SELECT created_at, id FROM tasks WHERE id = $3::uuid AND owner = $1::uuid))"
            " ORDER BY created_at DESC, id DESC"
            " LIMIT $4",
        o, nullable(status), nullable(query.before), limit);
    TaskPage page;
    page.tasks.reserve(r.size());
    for (const auto& row : r) page.tasks.push_back(to_task(row));
    return page;
  });
}

std::optional<TaskRecord> TaskRepo::remove(std::string_view owner, std::string_view id) {
  if (!is_uuid(owner) || !is_uuid(id)) return std::nullopt;
  return pool_.transact([&](pqxx::work& tx) -> std::optional<TaskRecord> {
    const pqxx::result r = tx.exec_params(
        "DELETE FROM tasks WHERE id = $1::uuid AND owner = $2::uuid RETURNING " + columns(), std::string(id),
        std::string(owner));
    if (r.empty()) return std::nullopt;
    return to_task(r[0]);
  });
}

StatusCounts TaskRepo::count_by_status(std::string_view owner) {
  if (!is_uuid(owner)) return {};
  return pool_.transact([&](pqxx::work& tx) {
    return to_counts(
        tx.exec_params("SELECT status, count(*) FROM tasks WHERE owner = $1::uuid GROUP BY status", std::string(owner)));
  });
}

std::optional<TaskRecord> TaskRepo::get_by_id(std::string_view id) {
  if (!is_uuid(id)) return std::nullopt;
  return pool_.transact([&](pqxx::work& tx) -> std::optional<TaskRecord> {
    const pqxx::result r = tx.exec_params("SELECT " + columns() + " FROM tasks WHERE id = $1::uuid", std::string(id));
    if (r.empty()) return std::nullopt;
    return to_task(r[0]);
  });
}

namespace {

ClaimResult claim_in(pqxx::work& tx, const std::string& id, std::string_view worker, std::string_view backend,
                     bool reclaim) {
  const pqxx::result r = tx.exec_params(
      "UPDATE tasks SET status = 'running', worker = $2, backend = $3, attempts = attempts + 1,"
      "                 started_at = now(), finished_at = NULL, progress = 0, error = NULL"
      " WHERE id = $1::uuid"
      "   AND (status = 'queued' OR (status = 'running' AND (worker IS NOT DISTINCT FROM $2 OR $4::boolean)))"
      " RETURNING " + columns(),
      id, std::string(worker), std::string(backend), reclaim);
  if (!r.empty()) return {ClaimStatus::claimed, to_task(r[0])};
  const pqxx::result now = tx.exec_params("SELECT " + columns() + " FROM tasks WHERE id = $1::uuid", id);
  if (now.empty()) return {ClaimStatus::not_found, std::nullopt};
  return {ClaimStatus::not_claimable, to_task(now[0])};
}

bool done_in(pqxx::work& tx, const std::string& id, const RenderOutcome& o) {
  const pqxx::result r = tx.exec_params(
      "UPDATE tasks SET status = 'done', progress = 1, finished_at = now(), error = NULL,"
      "                 backend = $2, precision_used = $3, iterations = $4, render_ms = $5,"
      "                 file_path = $6, file_size = $7"
      " WHERE id = $1::uuid AND status IN ('queued', 'running')",
      id, o.backend, o.precision_used, o.iterations, o.render_ms, o.file_path, o.file_size);
  if (r.affected_rows() == 1) return true;
  const pqxx::result now = tx.exec_params("SELECT status FROM tasks WHERE id = $1::uuid", id);
  return !now.empty() && now[0][0].as<std::string>() == "done";
}

}  // namespace

ClaimResult TaskRepo::mark_running(std::string_view id, std::string_view worker, std::string_view backend,
                                   bool reclaim) {
  if (!is_uuid(id)) return {ClaimStatus::not_found, std::nullopt};
  return pool_.transact(
      [&](pqxx::work& tx) -> ClaimResult { return claim_in(tx, std::string(id), worker, backend, reclaim); });
}

std::vector<ClaimResult> TaskRepo::mark_running_many(const std::vector<ClaimRequest>& requests,
                                                     std::string_view worker, std::string_view backend) {
  if (std::none_of(requests.begin(), requests.end(), [](const ClaimRequest& r) { return is_uuid(r.id); }))
    return std::vector<ClaimResult>(requests.size(), ClaimResult{ClaimStatus::not_found, std::nullopt});
  return pool_.transact([&](pqxx::work& tx) {
    std::vector<ClaimResult> results;
    results.reserve(requests.size());
    for (const ClaimRequest& r : requests) {
      if (!is_uuid(r.id)) {
        results.push_back({ClaimStatus::not_found, std::nullopt});
      } else {
        results.push_back(claim_in(tx, r.id, worker, backend, r.reclaim));
      }
    }
    return results;
  });
}

bool TaskRepo::set_progress(std::string_view id, double progress) {
  if (!is_uuid(id) || std::isnan(progress)) return false;
  return pool_.transact([&](pqxx::work& tx) {
    return tx.exec_params("UPDATE tasks SET progress = greatest(progress, $2::float8)"
                          " WHERE id = $1::uuid AND status = 'running'",
                          std::string(id), clamp_progress(progress))
               .affected_rows() == 1;
  });
}

std::size_t TaskRepo::set_progress_many(const std::vector<std::pair<std::string, double>>& progress) {
  // Two array parameters (the values are checked UUIDs and formatted numbers,
  // never SQL), so a batch of any size is one statement.
  std::string ids = "{", values = "{";
  std::size_t n = 0;
  for (const auto& [id, p] : progress) {
    if (!is_uuid(id) || std::isnan(p)) continue;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", clamp_progress(p));
    if (n > 0) {
      ids += ',';
      values += ',';
    }
    ids += id;
    values += buf;
    ++n;
  }
  if (n == 0) return 0;
  ids += "}";
  values += "}";
  return pool_.transact([&](pqxx::work& tx) {
    return static_cast<std::size_t>(
        tx.exec_params("UPDATE tasks t SET progress = greatest(t.progress, v.p)"
                       " FROM unnest($1::uuid[], $2::float8[]) AS v(id, p)"
                       " WHERE t.id = v.id AND t.status = 'running'",
                       ids, values)
            .affected_rows());
  });
}

bool TaskRepo::mark_done(std::string_view id, const RenderOutcome& o) {
  if (!is_uuid(id)) return false;
  return pool_.transact([&](pqxx::work& tx) { return done_in(tx, std::string(id), o); });
}

std::vector<bool> TaskRepo::mark_done_many(const std::vector<DoneRequest>& requests) {
  if (std::none_of(requests.begin(), requests.end(), [](const DoneRequest& r) { return is_uuid(r.id); }))
    return std::vector<bool>(requests.size(), false);
  return pool_.transact([&](pqxx::work& tx) {
    std::vector<bool> results;
    results.reserve(requests.size());
    for (const DoneRequest& r : requests) results.push_back(is_uuid(r.id) && done_in(tx, r.id, r.outcome));
    return results;
  });
}

bool TaskRepo::finish(std::string_view id, TaskStatus to, std::string_view error) {
  if (!is_uuid(id)) return false;
  const std::string target(to_string(to));
  const std::optional<std::string> message =
      error.empty() ? std::nullopt : std::optional<std::string>(std::string(error));
  return pool_.transact([&](pqxx::work& tx) {
    const pqxx::result r = tx.exec_params(
        "UPDATE tasks SET status = $2, finished_at = now(), error = $3"
        " WHERE id = $1::uuid AND status IN ('queued', 'running')",
        std::string(id), target, nullable(message));
    if (r.affected_rows() == 1) return true;
    const pqxx::result now = tx.exec_params("SELECT status FROM tasks WHERE id = $1::uuid", std::string(id));
    return !now.empty() && now[0][0].as<std::string>() == target;
  });
}

bool TaskRepo::mark_failed(std::string_view id, std::string_view error) {
  return finish(id, TaskStatus::failed, error.empty() ? std::string_view("failed") : error);
}

bool TaskRepo::mark_canceled(std::string_view id) { return finish(id, TaskStatus::canceled, {}); }

StatusCounts TaskRepo::count_all_by_status() {
  return pool_.transact([](pqxx::work& tx) { return to_counts(tx.exec("SELECT status, count(*) FROM tasks GROUP BY status")); });
}

std::vector<std::string> TaskRepo::list_unfinished_ids() {
  return pool_.transact([](pqxx::work& tx) {
    std::vector<std::string> ids;
    for (const auto& row : tx.exec("SELECT id::text FROM tasks WHERE status IN ('queued', 'running') ORDER BY created_at, id"))
      ids.push_back(row[0].as<std::string>());
    return ids;
  });
}

std::size_t TaskRepo::purge_idempotency_keys(std::chrono::seconds max_age) {
  return pool_.transact([&](pqxx::work& tx) {
    return static_cast<std::size_t>(
        tx.exec_params("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1::float8)",
                       static_cast<double>(max_age.count()))
            .affected_rows());
  });
}

}  // namespace fractal::storage
