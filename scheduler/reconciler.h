// The reconciler stage: every reconcile_interval it re-enqueues tasks that
// Postgres shows queued or running but that no stream entry carries (Redis
// lost its data, or a server died between INSERT and XADD), purges
// Idempotency-Keys older than a day, and removes temp files a killed encode
// left in the image store. Not re-enqueued: tasks this worker holds; tasks
// seen missing for less than reconcile_grace (the server may be about to
// XADD; a live worker's lease may not be re-created yet); tasks younger than
// reconcile_min_age; tasks whose render lease a live worker holds; tasks
// another worker re-enqueues now.
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>

#include "scheduler/worker_context.h"

namespace fractal::scheduler {

class Reconciler {
 public:
  explicit Reconciler(WorkerContext& ctx) : ctx_(ctx) {}
  void run();   // until ctx.stop_background()
  void pass();  // one round (tests)

 private:
  WorkerContext& ctx_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> missing_since_;
};

}  // namespace fractal::scheduler
