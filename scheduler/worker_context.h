// What the stages of a Worker share: its options and storage clients, the
// registry of claimed tasks, the counters, and the stop/drain state.
//
// Every stage (intake.h, render_stage.h, output_stage.h, progress_reporter.h,
// claim_keeper.h, reconciler.h) holds a reference to one WorkerContext; the
// Worker owns it and the stages, and wires them together (worker.h).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/backoff.h"
#include "scheduler/in_flight.h"
#include "scheduler/worker_options.h"
#include "storage/errors.h"
#include "storage/image_store.h"
#include "storage/metrics_store.h"
#include "storage/pg_pool.h"
#include "storage/redis.h"
#include "storage/render_leases.h"
#include "storage/tasks.h"

namespace fractal::scheduler {

// What this worker did since it started (tests and logs; the service-wide
// figures go to MetricsStore).
struct WorkerCounters {
  std::int64_t render_calls = 0;    // render_tasks calls
  std::int64_t tasks_rendered = 0;  // marked done by this worker
  std::int64_t tasks_failed = 0;    // bad params, render or write errors, dead letters
  std::int64_t tasks_canceled = 0;  // render stopped because the task went away
  std::int64_t tasks_skipped = 0;   // deleted, finished or rendered elsewhere: acked without work
  std::int64_t dead_lettered = 0;
  std::int64_t redeliveries = 0;    // claimed entries delivered more than once
  std::int64_t reconciled = 0;      // re-enqueued by this worker's reconciler
  std::int64_t handed_off = 0;      // given back to the queue at shutdown
  std::int64_t claims_lost = 0;     // entries another worker took over while this one held them
};

class WorkerContext {
 public:
  // Throws std::invalid_argument when options.validate() fails, and what
  // ImageStore throws for an unusable data dir. Connects lazily.
  explicit WorkerContext(WorkerOptions options);
  WorkerContext(const WorkerContext&) = delete;
  WorkerContext& operator=(const WorkerContext&) = delete;

  const WorkerOptions options;
  storage::PgPool pool;
  storage::TaskRepo repo;
  storage::TaskQueue queue;
  storage::MetricsStore metrics;
  storage::ImageStore store;
  storage::RenderLeases leases;
  InFlight in_flight;
  std::string backend;  // Renderer::name(); set before the stages start

  struct Counters {
    std::atomic<std::int64_t> render_calls{0}, tasks_rendered{0}, tasks_failed{0}, tasks_canceled{0},
        tasks_skipped{0}, dead_lettered{0}, redeliveries{0}, reconciled{0}, handed_off{0}, claims_lost{0};
  } counters;
  [[nodiscard]] WorkerCounters snapshot_counters() const;

  // Stop: the intake stops taking entries; the drain deadline starts.
  void request_stop() noexcept;
  [[nodiscard]] bool stopping() const noexcept { return stopping_.load(); }
  [[nodiscard]] const std::atomic<bool>& stopping_flag() const noexcept { return stopping_; }
  [[nodiscard]] bool drain_expired() const;
  // The background stages (progress, keep-alive, reconciler) stop last, after
  // the output stage drained.
  void stop_background() noexcept;
  [[nodiscard]] bool background_stopped() const noexcept { return background_stop_.load(); }
  // Sleep up to d; return early on request_stop() / stop_background().
  void pause(std::chrono::milliseconds d);
  void wait_background(std::chrono::milliseconds d);

  // Liveness: stages call beat() when they make progress (a loop turn, a
  // render band, a finished group); the claim keeper publishes the time of
  // the last beat for `fractal-worker --check`.
  void beat() noexcept;
  [[nodiscard]] std::chrono::system_clock::time_point last_beat() const noexcept;
  // Writes the time of the last beat to options.health_file (liveness.h);
  // true when there is none to write. False with `error` set on failure.
  bool publish_liveness(std::string* error) const;

  // Runs f until Postgres/Redis answer. Outages are waited out; only a
  // stopping worker past its drain deadline (or a stopped background) gives
  // up (nullopt): the entry then stays pending and is delivered again, which
  // is safe because every step is idempotent by task id.
  template <class F>
  auto retrying(const char* op, const std::string& task_id, F&& f) -> std::optional<decltype(f())>;

  // Metrics are best effort: a failure is logged, never thrown.
  template <class F>
  void best_effort(const char* what, F&& f) noexcept;

  void release_leases(const std::vector<std::string>& task_ids) noexcept;  // best effort: they expire

 private:
  void log_retry(const char* op, const std::string& task_id, const storage::StorageUnavailable& e, bool first) const;
  void log_recovered(const char* op, const std::string& task_id) const;
  void log_gave_up(const char* op, const std::string& task_id, const storage::StorageUnavailable& e) const;
  void log_metrics_failed(const char* what, const std::exception& e) const noexcept;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> background_stop_{false};
  std::atomic<std::int64_t> drain_deadline_ns_{0};
  std::atomic<std::int64_t> last_beat_ns_{0};  // system_clock
  mutable std::mutex wake_mutex_;
  std::condition_variable wake_;
};

template <class F>
auto WorkerContext::retrying(const char* op, const std::string& task_id, F&& f) -> std::optional<decltype(f())> {
  runtime::Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
  bool warned = false;
  for (;;) {
    try {
      auto result = f();
      if (warned) log_recovered(op, task_id);
      return result;
    } catch (const storage::StorageUnavailable& e) {
      if (drain_expired() || background_stopped()) {
        log_gave_up(op, task_id, e);
        return std::nullopt;
      }
      log_retry(op, task_id, e, !warned);
      warned = true;
      wait_background(backoff.next());
    }
  }
}

template <class F>
void WorkerContext::best_effort(const char* what, F&& f) noexcept {
  try {
    f();
  } catch (const std::exception& e) {
    log_metrics_failed(what, e);
  }
}

}  // namespace fractal::scheduler
