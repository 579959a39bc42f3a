// The claim keep-alive stage: every claim_timeout/3 it resets the idle time of
// every stream entry this worker holds (claimed tasks and the backlog) and
// refreshes their render leases, so no other worker takes them over while
// they render; an entry or lease found taken over is marked claim_lost. It
// also sends the heartbeat GET /stats counts workers by, and writes the
// liveness file `fractal-worker --check` reads (liveness.h).
#pragma once

#include "scheduler/worker_context.h"

namespace fractal::scheduler {

class ClaimKeeper {
 public:
  explicit ClaimKeeper(WorkerContext& ctx) : ctx_(ctx) {}
  void run();  // until ctx.stop_background()

 private:
  void touch_claims();
  void heartbeat();

  WorkerContext& ctx_;
  bool touch_failing_ = false;
  bool beat_failing_ = false;
  bool health_failing_ = false;
};

}  // namespace fractal::scheduler
