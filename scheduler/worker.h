// The render worker: one consumer of the task stream, built from stages that
// each do one job (scheduler/README.md has the recovery rules):
//
//   intake.h            the render thread: XREADGROUP / XAUTOCLAIM / own pending
//                       entries -> task records, leases, claims, a batch at a time
//   render_stage.h      the render thread: render groups, one render_tasks each
//   output_stage.h      encode threads: write images; per group one fsync,
//                       one "done" transaction, one XACK, one lease release
//   progress_reporter.h progress to Postgres ~4x/s; cancels renders of tasks
//                       that are no longer running there
//   claim_keeper.h      XCLAIM-touch of held entries, render leases, heartbeat,
//                       liveness file
//   reconciler.h        re-enqueues tasks Postgres shows unfinished that the
//                       stream lost; purges old Idempotency-Keys and temp files
//   tile_lane.h         the interactive tile lane (its own renderer and thread)
//
//   Worker w(options);
//   std::thread t([&] { w.run(); });   // blocks until stop()
//   ...
//   w.stop(); t.join();
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "kernels/renderer.h"
#include "scheduler/tile_lane.h"
#include "scheduler/worker_context.h"
#include "scheduler/worker_options.h"

namespace fractal::scheduler {

class Intake;
class OutputStage;
class RenderStage;

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

  [[nodiscard]] const std::string& name() const noexcept { return ctx_.options.name; }
  [[nodiscard]] bool started() const noexcept { return started_.load(); }  // renderer made, threads up
  [[nodiscard]] std::string backend() const;                              // Renderer::name() once started
  [[nodiscard]] WorkerCounters counters() const { return ctx_.snapshot_counters(); }
  [[nodiscard]] std::size_t in_flight() const { return ctx_.in_flight.size(); }
  // The interactive lane's figures (zero when it is off or not started).
  [[nodiscard]] TileCounters tile_counters() const;

 private:
  void migrate_schema();
  void main_loop(Intake& intake, RenderStage& render, OutputStage& output);

  WorkerContext ctx_;
  std::unique_ptr<TileLane> tiles_;  // set before started_
  std::atomic<bool> started_{false};
  std::atomic<bool> running_{false};
};

}  // namespace fractal::scheduler
