#include "storage/tasks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

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
         "attempts, " + t + "worker, " + t + "deep::text";
}
constexpr int kColumnCount = 18;

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
  if (!r[17].is_null()) t.deep = nlohmann::json::parse(r[17].c_str());
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

// A Postgres array literal, for one array parameter instead of a parameter per
// element (libpqxx 6 has no array parameters). Every element is quoted and
// escaped, so any text is safe; nullopt is NULL.
std::string pg_array(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    if (!items[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string pg_array(const std::vector<std::string>& items) {
  return pg_array(std::vector<std::optional<std::string>>(items.begin(), items.end()));
}

// The quota side of moving tasks out of queued/running: one slot back per task
// to each owner (an owner listed n times gets n). Owner rows are locked in id
// order first: transactions that finish tasks of several owners (a worker's
// batch) cannot deadlock on them.
void release_slots(pqxx::work& tx, const std::vector<std::string>& owners) {
  if (owners.empty()) return;
  if (owners.size() == 1) {
    tx.exec_params0("UPDATE users SET unfinished = unfinished - 1 WHERE id = $1::uuid", owners.front());
    return;
  }
  std::map<std::string, int> per_owner;
  for (const auto& o : owners) ++per_owner[o];
  std::vector<std::string> ids, counts;
  for (const auto& [o, n] : per_owner) {
    ids.push_back(o);
    counts.push_back(std::to_string(n));
  }
  tx.exec_params("SELECT 1 FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE", pg_array(ids));
  tx.exec_params0(
      "UPDATE users u SET unfinished = u.unfinished - d.n"
      " FROM unnest($1::uuid[], $2::int[]) AS d(id, n) WHERE u.id = d.id",
      pg_array(ids), pg_array(counts));
}

// What an idempotency key already names: the stored submission's tasks by position.
struct PriorSubmission {
  std::optional<int> batch_size;  // nullopt: a single task
  std::vector<std::pair<int, TaskRecord>> tasks;
};

// Whether `s` repeats the submission stored under its key. Tasks deleted since
// are not compared (they no longer exist); the rest must match by position.
bool same_submission(const Submission& s, const PriorSubmission& prior) {
  if (s.batch != prior.batch_size.has_value()) return false;
  if (s.batch && static_cast<std::size_t>(*prior.batch_size) != s.params.size()) return false;
  for (const auto& [position, task] : prior.tasks) {
    if (position < 0 || static_cast<std::size_t>(position) >= s.params.size()) return false;
    if (task.params != s.params[static_cast<std::size_t>(position)]) return false;
  }
  return true;
}

bool same_submission(const Submission& a, const Submission& b) {
  return a.batch == b.batch && a.params == b.params;
}

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

void check_submission(const Submission& s) {
  if (s.params.empty() || s.params.size() > kMaxBatchTasks || (!s.batch && s.params.size() != 1))
    throw std::invalid_argument("a submission holds one task, or a batch of 1 to " + std::to_string(kMaxBatchTasks));
  const auto& key = s.idempotency_key;
  if (key && (key->empty() || key->size() > 255 || key->find('\0') != std::string::npos))
    throw std::invalid_argument("idempotency key must be 1 to 255 bytes, without NUL");
}

TaskCreateResult TaskRepo::create(std::string_view owner, const nlohmann::json& params,
                                  std::optional<std::string_view> idempotency_key) {
  Submission s;
  s.owner = std::string(owner);
  s.params.push_back(params);
  if (idempotency_key) s.idempotency_key = std::string(*idempotency_key);
  SubmissionResult r = std::move(create_many({s}).front());
  std::optional<TaskRecord> task;
  if (!r.tasks.empty()) task = std::move(r.tasks.front());
  return {r.outcome, std::move(task), r.unfinished};
}

std::vector<SubmissionResult> TaskRepo::create_many(const std::vector<Submission>& submissions) {
  const std::size_t n = submissions.size();
  std::vector<std::optional<std::string>> owners(n);  // canonical; nullopt: not a UUID
  std::vector<std::vector<std::string>> texts(n);     // params as JSON text
  std::set<std::string> owner_set;
  std::set<std::pair<std::string, std::string>> key_set;
  for (std::size_t i = 0; i < n; ++i) {
    const Submission& s = submissions[i];
    check_submission(s);
    owners[i] = canonical_uuid(s.owner);
    if (!owners[i]) continue;
    owner_set.insert(*owners[i]);
    if (s.idempotency_key) key_set.emplace(*owners[i], *s.idempotency_key);
    for (const auto& p : s.params) texts[i].push_back(p.dump());
  }
  std::vector<SubmissionResult> none(n);  // every owner unknown
  if (owner_set.empty()) return none;
  const std::int64_t quota = options_.max_unfinished_per_user;

  return pool_.transact([&](pqxx::work& tx) {
    std::vector<SubmissionResult> results(n);
    // Locks every owner row (in id order) until the commit: this owner's other
    // creates wait, so its counter and keys cannot change under us.
    std::map<std::string, std::int64_t> unfinished;
    for (const auto& row : tx.exec_params(
             "SELECT id::text, unfinished FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE",
             pg_array(std::vector<std::string>(owner_set.begin(), owner_set.end()))))
      unfinished[row[0].as<std::string>()] = row[1].as<std::int64_t>();

    std::map<std::pair<std::string, std::string>, PriorSubmission> prior;
    if (!key_set.empty()) {
      std::vector<std::string> key_owners, keys;
      for (const auto& [o, k] : key_set) {
        key_owners.push_back(o);
        keys.push_back(k);
      }
      for (const auto& row : tx.exec_params(
               "SELECT " + columns("t.") + ", k.owner::text, k.key, k.position, k.batch_size"
               " FROM unnest($1::uuid[], $2::text[]) AS q(owner, key)"
               " JOIN idempotency_keys k ON k.owner = q.owner AND k.key = q.key"
               " JOIN tasks t ON t.id = k.task_id"
               " ORDER BY k.owner, k.key, k.position",
               pg_array(key_owners), pg_array(keys))) {
        PriorSubmission& p = prior[{row[kColumnCount].as<std::string>(), row[kColumnCount + 1].as<std::string>()}];
        p.batch_size = optional_field<int>(row[kColumnCount + 3]);
        p.tasks.emplace_back(row[kColumnCount + 2].as<int>(), to_task(row));
      }
    }

    // Decide every submission in order; nothing is written yet.
    std::vector<std::size_t> creating;                     // submissions to insert
    std::vector<std::optional<std::size_t>> repeats(n);    // key of an earlier submission of this call
    std::map<std::pair<std::string, std::string>, std::size_t> created_keys;
    for (std::size_t i = 0; i < n; ++i) {
      const Submission& s = submissions[i];
      SubmissionResult& r = results[i];
      if (!owners[i] || unfinished.count(*owners[i]) == 0) continue;  // unknown_owner
      const std::string& o = *owners[i];
      if (s.idempotency_key) {
        const std::pair<std::string, std::string> k{o, *s.idempotency_key};
        if (const auto p = prior.find(k); p != prior.end()) {
          r.outcome = same_submission(s, p->second) ? CreateOutcome::existing : CreateOutcome::idempotency_conflict;
          for (const auto& [position, task] : p->second.tasks) r.tasks.push_back(task);
          continue;
        }
        if (const auto c = created_keys.find(k); c != created_keys.end()) {
          r.outcome = same_submission(s, submissions[c->second]) ? CreateOutcome::existing
                                                                 : CreateOutcome::idempotency_conflict;
          repeats[i] = c->second;
          continue;
        }
      }
      const std::int64_t have = unfinished[o];
      const auto adding = static_cast<std::int64_t>(s.params.size());
      r.unfinished = have;
      if (quota > 0 && have + adding > quota) {
        r.outcome = CreateOutcome::quota_exceeded;
        continue;
      }
      unfinished[o] = have + adding;
      r.outcome = CreateOutcome::created;
      creating.push_back(i);
      if (s.idempotency_key) created_keys.emplace(std::pair{o, *s.idempotency_key}, i);
    }
    if (creating.empty()) return results;

    // One INSERT for every new task, in submission order (created_at ascends
    // with it); the ids come from the materialized CTE, so rows map back by n.
    std::vector<std::string> row_owners, row_params;
    for (std::size_t i : creating) {
      for (const auto& text : texts[i]) {
        row_owners.push_back(*owners[i]);
        row_params.push_back(text);
      }
    }
    const pqxx::result inserted = tx.exec_params(
        "WITH v AS MATERIALIZED ("
        "  SELECT gen_random_uuid() AS id, owner, params::jsonb AS params, n"
        "    FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS v(owner, params, n)),"
        " ins AS (INSERT INTO tasks (id, owner, params) SELECT id, owner, params FROM v ORDER BY n RETURNING *)"
        " SELECT " + columns("t.") + " FROM ins t JOIN v ON v.id = t.id ORDER BY v.n",
        pg_array(row_owners), pg_array(row_params));
    if (inserted.size() != row_params.size()) throw StorageError("create_many: inserted rows do not match");
    std::size_t next = 0;
    for (std::size_t i : creating) {
      for (std::size_t k = 0; k < texts[i].size(); ++k) results[i].tasks.push_back(to_task(inserted[next++]));
    }

    // Keys: one row per task of the submission, by position.
    std::vector<std::string> key_owners, keys, task_ids, positions;
    std::vector<std::optional<std::string>> sizes;
    for (std::size_t i : creating) {
      const Submission& s = submissions[i];
      if (!s.idempotency_key) continue;
      for (std::size_t k = 0; k < results[i].tasks.size(); ++k) {
        key_owners.push_back(*owners[i]);
        keys.push_back(*s.idempotency_key);
        task_ids.push_back(results[i].tasks[k].id);
        positions.push_back(std::to_string(k));
        sizes.push_back(s.batch ? std::optional<std::string>(std::to_string(s.params.size())) : std::nullopt);
      }
    }
    if (!keys.empty()) {
      tx.exec_params0(
          "INSERT INTO idempotency_keys (owner, key, task_id, position, batch_size)"
          " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::int[])",
          pg_array(key_owners), pg_array(keys), pg_array(task_ids), pg_array(positions), pg_array(sizes));
    }

    // The counters: owner rows are locked already, so one statement.
    std::vector<std::string> counted_owners, added;
    std::map<std::string, std::int64_t> per_owner;
    for (std::size_t i : creating) per_owner[*owners[i]] += static_cast<std::int64_t>(submissions[i].params.size());
    for (const auto& [o, k] : per_owner) {
      counted_owners.push_back(o);
      added.push_back(std::to_string(k));
    }
    tx.exec_params0(
        "UPDATE users u SET unfinished = u.unfinished + d.n"
        " FROM unnest($1::uuid[], $2::int[]) AS d(id, n) WHERE u.id = d.id",
        pg_array(counted_owners), pg_array(added));

    for (std::size_t i = 0; i < n; ++i) {
      if (repeats[i]) results[i].tasks = results[*repeats[i]].tasks;
    }
    return results;
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
    TaskRecord gone = to_task(r[0]);
    if (!is_finished(gone.status)) release_slots(tx, {gone.owner});
    return gone;
  });
}

std::optional<CancelResult> TaskRepo::cancel(std::string_view owner, std::string_view id) {
  if (!is_uuid(owner) || !is_uuid(id)) return std::nullopt;
  return pool_.transact([&](pqxx::work& tx) -> std::optional<CancelResult> {
    const pqxx::result r = tx.exec_params(
        "UPDATE tasks SET status = 'canceled', finished_at = now(), error = NULL"
        " WHERE id = $1::uuid AND owner = $2::uuid AND status IN ('queued', 'running')"
        " RETURNING " + columns(),
        std::string(id), std::string(owner));
    if (!r.empty()) {
      TaskRecord task = to_task(r[0]);
      release_slots(tx, {task.owner});
      return CancelResult{std::move(task), true};
    }
    const pqxx::result now = tx.exec_params(
        "SELECT " + columns() + " FROM tasks WHERE id = $1::uuid AND owner = $2::uuid", std::string(id),
        std::string(owner));
    if (now.empty()) return std::nullopt;
    return CancelResult{to_task(now[0]), false};
  });
}

std::optional<std::int64_t> TaskRepo::unfinished(std::string_view owner) {
  if (!is_uuid(owner)) return std::nullopt;
  return pool_.transact([&](pqxx::work& tx) -> std::optional<std::int64_t> {
    const pqxx::result r = tx.exec_params("SELECT unfinished FROM users WHERE id = $1::uuid", std::string(owner));
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::int64_t>();
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

std::vector<std::optional<TaskRecord>> TaskRepo::get_many_by_id(const std::vector<std::string>& ids) {
  std::vector<std::optional<TaskRecord>> out(ids.size());
  std::vector<std::string> valid;
  for (const auto& id : ids)
    if (is_uuid(id)) valid.push_back(id);
  if (valid.empty()) return out;
  std::unordered_map<std::string, TaskRecord> found;
  pool_.transact([&](pqxx::work& tx) {
    found.clear();
    for (const auto& row : tx.exec_params("SELECT " + columns() + " FROM tasks WHERE id = ANY($1::uuid[])", pg_array(valid))) {
      TaskRecord t = to_task(row);
      std::string key = t.id;
      found.emplace(std::move(key), std::move(t));
    }
  });
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (const auto canonical = canonical_uuid(ids[i])) {
      if (auto it = found.find(*canonical); it != found.end()) out[i] = it->second;
    }
  }
  return out;
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

// Marks one task done; the owner of a task that left queued/running goes to
// `released` (its quota slot is given back by the caller, after the task rows).
bool done_in(pqxx::work& tx, const std::string& id, const RenderOutcome& o, std::vector<std::string>& released) {
  const std::optional<std::string> deep = o.deep ? std::optional<std::string>(o.deep->dump()) : std::nullopt;
  const pqxx::result r = tx.exec_params(
      "UPDATE tasks SET status = 'done', progress = 1, finished_at = now(), error = NULL,"
      "                 backend = $2, precision_used = $3, iterations = $4, render_ms = $5,"
      "                 file_path = $6, file_size = $7, deep = $8::jsonb"
      " WHERE id = $1::uuid AND status IN ('queued', 'running')"
      " RETURNING owner::text",
      id, o.backend, o.precision_used, o.iterations, o.render_ms, o.file_path, o.file_size, nullable(deep));
  if (!r.empty()) {
    released.push_back(r[0][0].as<std::string>());
    return true;
  }
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
  return pool_.transact([&](pqxx::work& tx) {
    std::vector<std::string> released;
    const bool done = done_in(tx, std::string(id), o, released);
    release_slots(tx, released);
    return done;
  });
}

std::vector<bool> TaskRepo::mark_done_many(const std::vector<DoneRequest>& requests) {
  if (std::none_of(requests.begin(), requests.end(), [](const DoneRequest& r) { return is_uuid(r.id); }))
    return std::vector<bool>(requests.size(), false);
  return pool_.transact([&](pqxx::work& tx) {
    std::vector<bool> results;
    std::vector<std::string> released;
    results.reserve(requests.size());
    for (const DoneRequest& r : requests) results.push_back(is_uuid(r.id) && done_in(tx, r.id, r.outcome, released));
    release_slots(tx, released);
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
        " WHERE id = $1::uuid AND status IN ('queued', 'running')"
        " RETURNING owner::text",
        std::string(id), target, nullable(message));
    if (!r.empty()) {
      release_slots(tx, {r[0][0].as<std::string>()});
      return true;
    }
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
