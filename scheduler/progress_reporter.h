// The progress stage: about 4 times a second, one statement publishes the
// progress of every render in flight to Postgres. A task that is no longer
// running there (deleted, canceled, finished elsewhere) has its render
// canceled. Past the drain deadline of a stopping worker it cancels the
// renders still going, so they are handed back. Renders that advance count as
// liveness (a long render is not a hang).
#pragma once

#include <string>
#include <unordered_map>

#include "scheduler/worker_context.h"

namespace fractal::scheduler {

class ProgressReporter {
 public:
  explicit ProgressReporter(WorkerContext& ctx) : ctx_(ctx) {}
  void run();  // until ctx.stop_background()

 private:
  void cancel_past_drain();

  WorkerContext& ctx_;
  std::unordered_map<std::string, std::uint64_t> last_;  // task -> its activity() seen last time
};

}  // namespace fractal::scheduler
