// The render worker: one consumer of the task stream.
//
//   Worker w(options);
//   std::thread t([&] { w.run(); });   // blocks until stop()
//   ...
//   w.stop(); t.join();
//
// Threads while run() runs:
//   render (the caller of run): XREADGROUP / XAUTOCLAIM / own pending entries
//       -> load + claim in Postgres -> group -> render_tasks per group
//   output (encode_threads): write the image, mark_done, XACK
//   progress: progress to Postgres ~4x/s; cancels renders of tasks that are
//       no longer running there (deleted)
//   keepalive: XCLAIM-touch of held entries, render leases, heartbeat
//   reconciler: re-enqueues tasks Postgres shows unfinished that the stream lost
// Recovery rules: scheduler/README.md.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kernels/renderer.h"
#include "scheduler/batch_plan.h"
#include "scheduler/encode_pool.h"
#include "scheduler/in_flight.h"
#include "scheduler/render_lease.h"
#include "scheduler/tile_lane.h"
#include "scheduler/worker_options.h"
#include "storage/image_store.h"
#include "storage/metrics_store.h"
#include "storage/pg_pool.h"
#include "storage/redis.h"
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

class Worker {
 public:
  // Throws std::invalid_argument when options.validate() fails, and what
  // ImageStore throws for an unusable data dir. Connects lazily.
  explicit Worker(WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs until stop(). Throws BackendUnavailable when the backend cannot be
  // made; Postgres or Redis being down is waited out, never thrown.
  void run();
  // Stop reading; finish the current batch (renders still going after
  // drain_timeout are canceled and handed back to the queue); run() returns.
  // Thread-safe, idempotent, may be called before run().
  void stop() noexcept;

  [[nodiscard]] const std::string& name() const noexcept { return options_.name; }
  [[nodiscard]] bool started() const noexcept { return started_.load(); }  // renderer made, threads up
  [[nodiscard]] std::string backend() const;                              // Renderer::name() once started
  [[nodiscard]] WorkerCounters counters() const;
  [[nodiscard]] std::size_t in_flight() const { return in_flight_.size(); }
  // The interactive lane's figures (zero when it is off or not started).
  [[nodiscard]] TileCounters tile_counters() const;

 private:
  struct Incoming {
    storage::StreamEntry entry;
    bool autoclaimed = false;
  };
  // An entry that passed admit's checks (lease held), waiting for the batch claim.
  struct Admitted {
    Incoming in;
    std::string task_id;
    TaskSpec spec;
    bool reclaim = false;
  };
  // The finished renders of one render group: their files are written one by
  // one on the output threads; the last one to get there records them all done
  // in one transaction, then acknowledges them.
  struct DoneEntry {
    std::shared_ptr<WorkItem> item;
    storage::RenderOutcome outcome;
    std::filesystem::path path;
    std::int64_t encode_ms = 0;
  };
  struct DoneBatch {
    explicit DoneBatch(std::size_t n) : remaining(n) {}
    std::mutex mutex;
    std::size_t remaining;
    std::vector<DoneEntry> entries;
  };
  struct Counters {
    std::atomic<std::int64_t> render_calls{0}, tasks_rendered{0}, tasks_failed{0}, tasks_canceled{0},
        tasks_skipped{0}, dead_lettered{0}, redeliveries{0}, reconciled{0}, handed_off{0}, claims_lost{0};
  };

  // render thread (worker.cpp)
  void migrate_schema();
  void main_loop();
  void recover_own_pending();
  std::vector<Incoming> take_backlog();
  std::vector<std::shared_ptr<WorkItem>> admit_all(std::vector<Incoming> incoming);
  std::optional<Admitted> admit(const Incoming& in, const std::unordered_set<std::string>& batch_tasks);
  std::vector<std::shared_ptr<WorkItem>> claim_all(std::vector<Admitted>& admitted);
  void dead_letter(const storage::StreamEntry& entry, const std::string& task_id);
  void render_items(const std::vector<std::shared_ptr<WorkItem>>& items);
  void render_group(const std::vector<std::shared_ptr<WorkItem>>& group);
  void dispatch(const std::shared_ptr<WorkItem>& item, const std::shared_ptr<DoneBatch>& batch = nullptr);

  // output and settling (worker_output.cpp)
  void output(const std::shared_ptr<WorkItem>& item, const std::shared_ptr<DoneBatch>& batch);
  // Adds `entry` (nullopt: this task left the batch otherwise) and, for the
  // last task of the batch to arrive, completes the batch.
  void arrive(const std::shared_ptr<DoneBatch>& batch, std::optional<DoneEntry> entry);
  void complete(std::vector<DoneEntry> entries);
  void settle_canceled(const std::shared_ptr<WorkItem>& item);
  void hand_off(const std::shared_ptr<WorkItem>& item);
  void fail(const std::shared_ptr<WorkItem>& item, const std::string& error);
  void finish(const std::shared_ptr<WorkItem>& item, bool acknowledge);
  void release_lease(const std::string& task_id);
  template <class F>
  auto retrying(const char* op, const std::string& task_id, F&& f) -> std::optional<decltype(f())>;

  // background threads (worker_background.cpp)
  void progress_loop();
  void keepalive_loop();
  void reconcile_loop();
  void reconcile_pass();
  void check_drain();

  // helpers
  void pause(std::chrono::milliseconds d);  // sleeps, returns early on stop()
  void wait_background(std::chrono::milliseconds d);
  [[nodiscard]] bool drain_expired() const;
  [[nodiscard]] bool stopping() const noexcept { return stopping_.load(); }

  WorkerOptions options_;
  storage::PgPool pool_;
  storage::TaskRepo repo_;
  storage::TaskQueue queue_;
  storage::MetricsStore metrics_;
  storage::ImageStore store_;
  RenderLeases leases_;
  std::shared_ptr<Renderer> renderer_;
  std::string backend_;
  PlanLimits limits_;

  InFlight in_flight_;
  std::vector<Incoming> backlog_;  // render thread only
  std::unique_ptr<EncodePool> encode_;
  std::unique_ptr<TileLane> tiles_;  // the interactive lane (tile_lane.h), set before started_
  Counters counters_;

  std::atomic<bool> started_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> background_stop_{false};
  std::atomic<std::int64_t> drain_deadline_ns_{0};
  mutable std::mutex wake_mutex_;
  std::condition_variable wake_;

  std::unordered_map<std::string, std::chrono::steady_clock::time_point> missing_since_;  // reconciler thread only
};

}  // namespace fractal::scheduler
