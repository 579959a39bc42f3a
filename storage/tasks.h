// Render tasks: the user-facing side (create with quota and idempotency, get,
// list, cancel, delete) and the worker side (claim, progress, done/failed/canceled).
// Postgres is the source of truth; every method is one transaction.
//
// Quota counter: users.unfinished is the owner's queued + running tasks. Every
// method that creates tasks or moves them out of queued/running (done, failed,
// canceled, deleted) updates it in the same transaction, under the owner row's
// lock; owner rows are always locked after task rows and in id order, so
// concurrent transactions cannot deadlock on them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/pg_pool.h"
#include "storage/timestamp.h"

namespace fractal::storage {

enum class TaskStatus { queued, running, done, failed, canceled };

std::string_view to_string(TaskStatus status) noexcept;            // "queued", ...
std::optional<TaskStatus> parse_task_status(std::string_view text) noexcept;
inline bool is_finished(TaskStatus s) noexcept { return s != TaskStatus::queued && s != TaskStatus::running; }

struct TaskRecord {
  std::string id;     // canonical UUID
  std::string owner;  // user id
  nlohmann::json params;
  TaskStatus status = TaskStatus::queued;
  double progress = 0.0;  // 0..1
  Timestamp created_at;
  std::optional<Timestamp> started_at;   // start of the current (latest) attempt
  std::optional<Timestamp> finished_at;
  std::optional<std::string> error;
  std::optional<std::string> backend;          // "cuda:<device>" | "cpu:<isa> x<threads>"
  std::optional<std::string> precision_used;   // "float" | "double"
  std::optional<std::int64_t> iterations;
  std::optional<std::int64_t> render_ms;
  std::optional<std::string> file_path;        // as given to mark_done (a name under the image store)
  std::optional<std::int64_t> file_size;
  int attempts = 0;                            // claims so far
  std::optional<std::string> worker;           // consumer that claimed it last
  std::optional<nlohmann::json> deep;          // figures of a deep render (an object), as given to mark_done
};

struct StatusCounts {
  std::int64_t queued = 0, running = 0, done = 0, failed = 0, canceled = 0;
  std::int64_t unfinished() const noexcept { return queued + running; }
  std::int64_t total() const noexcept { return queued + running + done + failed + canceled; }
};

// Most tasks one submission (POST /add {"tasks": [...]}) may hold.
inline constexpr std::size_t kMaxBatchTasks = 1000;

enum class CreateOutcome {
  created,               // new task(s) (and idempotency key, if one was given)
  existing,              // the key was used before for the same submission: its task(s)
  idempotency_conflict,  // the key was used before for another submission: its task(s), nothing created
  quota_exceeded,        // the new tasks would take the owner past max_unfinished queued/running tasks
  unknown_owner,         // no such user
};

struct TaskCreateResult {
  CreateOutcome outcome;
  std::optional<TaskRecord> task;   // set for created, existing, idempotency_conflict
  std::int64_t unfinished = 0;      // the owner's queued + running tasks before this call
};

// One submission of create_many: one task, or a batch that is created whole or not at all.
struct Submission {
  std::string owner;
  std::vector<nlohmann::json> params;          // 1 (single) or 1 to kMaxBatchTasks (batch), in order
  bool batch = false;                          // a batch of one is another submission than a single task
  std::optional<std::string> idempotency_key;  // 1-255 bytes; covers the whole submission
};

// Throws std::invalid_argument unless create_many accepts `s`: 1 task (single)
// or 1 to kMaxBatchTasks (batch), a key of 1-255 bytes without NUL.
void check_submission(const Submission& s);

struct SubmissionResult {
  CreateOutcome outcome = CreateOutcome::unknown_owner;
  // created, existing: the submission's tasks in order (a replayed batch lists
  // those not deleted since); idempotency_conflict: the tasks the key names.
  std::vector<TaskRecord> tasks;
  std::int64_t unfinished = 0;  // the owner's queued + running tasks before this submission
};

struct CancelResult {
  TaskRecord task;        // the record after the call
  bool canceled = false;  // true: it was queued or running and is canceled now
};

struct TaskListQuery {
  std::optional<TaskStatus> status;     // filter
  int limit = 50;                       // clamped to 0..1000
  std::optional<std::string> before;    // id of the last task of the previous page
};

struct TaskPage {
  std::vector<TaskRecord> tasks;        // newest first: (created_at, id) descending
  bool before_found = true;             // false: `before` is not one of the owner's tasks (page empty)
};

enum class ClaimStatus {
  claimed,        // now running for this worker, attempts incremented
  not_claimable,  // finished (done/failed/canceled), or running elsewhere and reclaim not allowed
  not_found,      // deleted
};

struct ClaimResult {
  ClaimStatus status;
  std::optional<TaskRecord> task;  // the record after the call (absent when not_found)
};

struct RenderOutcome {
  std::string backend;
  std::string precision_used;
  std::int64_t iterations = 0;
  std::int64_t render_ms = 0;
  std::string file_path;
  std::int64_t file_size = 0;
  // Deep renders only: reference orbit and perturbation figures (a JSON object,
  // shown as the task object's "deep"); nullopt for every other render.
  std::optional<nlohmann::json> deep;
};

// One task of a batch claim (mark_running_many).
struct ClaimRequest {
  std::string id;
  bool reclaim = false;  // as mark_running's `reclaim`
};

// One finished task of a batch completion (mark_done_many).
struct DoneRequest {
  std::string id;
  RenderOutcome outcome;
};

struct TaskRepoOptions {
  std::int64_t max_unfinished_per_user = 100;  // quota on queued + running; <= 0: unlimited
};

class TaskRepo {
 public:
  explicit TaskRepo(PgPool& pool, TaskRepoOptions options = {}) : pool_(pool), options_(options) {}

  // --- user side (every call scoped to the owner: others' tasks do not exist) ---

  // Inserts a queued task and, with a key, the idempotency key, atomically. The
  // owner's row is locked for the duration, so concurrent creates of one user
  // are serialized: the quota cannot be overrun and a key maps to one task.
  // create_many with one single-task submission.
  [[nodiscard]] TaskCreateResult create(std::string_view owner, const nlohmann::json& params,
                                        std::optional<std::string_view> idempotency_key = std::nullopt);
  // Many submissions, of any owners, in ONE transaction: one multi-row INSERT,
  // one commit (the server's group commit). Each submission gets its own
  // result, in order, as if it had been made alone in that order: its key is
  // looked up first (among earlier submissions of this call too), then the
  // owner's quota is checked for all of its tasks at once. A refusal never
  // affects the other submissions. The owners' rows are locked (in id order)
  // until the commit. Throws std::invalid_argument for a malformed submission
  // (no params, a single with several, over kMaxBatchTasks, a bad key).
  [[nodiscard]] std::vector<SubmissionResult> create_many(const std::vector<Submission>& submissions);
  std::optional<TaskRecord> get(std::string_view owner, std::string_view id);
  TaskPage list(std::string_view owner, const TaskListQuery& query = {});
  // Deletes the task (and its idempotency key) and returns what it was, so the
  // caller can remove its file and stop its render; nullopt if not the owner's.
  std::optional<TaskRecord> remove(std::string_view owner, std::string_view id);
  // Queued/running -> canceled; a finished task is returned unchanged. A worker
  // rendering it stops at its next progress update (the task is no longer
  // running) and writes nothing. nullopt if not the owner's.
  std::optional<CancelResult> cancel(std::string_view owner, std::string_view id);
  StatusCounts count_by_status(std::string_view owner);
  // The owner's quota counter (users.unfinished); nullopt for an unknown owner.
  std::optional<std::int64_t> unfinished(std::string_view owner);

  // --- worker / operations side ---

  std::optional<TaskRecord> get_by_id(std::string_view id);
  // get_by_id for many tasks in one query; per id, in order (nullopt: no such task).
  std::vector<std::optional<TaskRecord>> get_many_by_id(const std::vector<std::string>& ids);
  // Claims a task for `worker`: allowed when queued, or running under the same
  // worker name (a restarted worker re-reading its own pending entries). With
  // `reclaim` also when running under another worker: pass it only for entries
  // taken over with XAUTOCLAIM, i.e. when the previous worker stopped keeping
  // its claim alive. Sets started_at = now(), progress = 0, clears error.
  [[nodiscard]] ClaimResult mark_running(std::string_view id, std::string_view worker, std::string_view backend,
                                         bool reclaim = false);
  // mark_running for each request, in order, in one transaction (one commit
  // for the whole batch); the same per-task rules. Returns one result per
  // request, in the same order. On an error nothing is claimed.
  [[nodiscard]] std::vector<ClaimResult> mark_running_many(const std::vector<ClaimRequest>& requests,
                                                           std::string_view worker, std::string_view backend);
  // Only while running; progress never goes backwards within an attempt. False if not running.
  bool set_progress(std::string_view id, double progress);
  // One statement for a whole batch; returns how many were updated.
  std::size_t set_progress_many(const std::vector<std::pair<std::string, double>>& progress);
  // Queued/running -> done. True when the task is done afterwards, also when it
  // already was (a repeated call is harmless). False when it is failed, canceled
  // or deleted: the caller then removes the file it wrote.
  bool mark_done(std::string_view id, const RenderOutcome& outcome);
  // mark_done for each request, in order, in one transaction (one commit for
  // the whole batch); the same per-task rules, idempotent. Returns one flag per
  // request, in the same order. On an error nothing is marked done.
  std::vector<bool> mark_done_many(const std::vector<DoneRequest>& requests);
  // Queued/running -> failed. True when failed afterwards (also if it already was).
  bool mark_failed(std::string_view id, std::string_view error);
  // Queued/running -> canceled. True when canceled afterwards (also if it already was).
  bool mark_canceled(std::string_view id);

  StatusCounts count_all_by_status();
  // Queued and running task ids, oldest first: what the reconciler compares with the stream.
  std::vector<std::string> list_unfinished_ids();
  // Forgets idempotency keys older than max_age; returns how many.
  std::size_t purge_idempotency_keys(std::chrono::seconds max_age);

  const TaskRepoOptions& options() const noexcept { return options_; }

 private:
  bool finish(std::string_view id, TaskStatus to, std::string_view error);

  PgPool& pool_;
  TaskRepoOptions options_;
};

}  // namespace fractal::storage
