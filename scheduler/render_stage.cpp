#include "scheduler/render_stage.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "kernels/render_task.h"
#include "runtime/logging.h"

namespace fractal::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

// render_tasks colours on a process-wide thread pool that runs one parallel
// region at a time, so two Workers in one process (tests) must not render at
// the same moment. One Worker per process (fractal-worker) never waits here.
std::mutex& render_mutex() {
  static std::mutex m;
  return m;
}

double default_cost_budget(const Renderer& r) {
  // About half a second of work per render call where the device's bound is
  // known (GPU); on the CPU a few seconds of worst-case work.
  const double peak = r.peak_iterations_per_second(Scalar::f64);
  return peak > 0 ? peak * 0.5 : 4e9;
}

}  // namespace

RenderStage::RenderStage(WorkerContext& ctx, std::shared_ptr<Renderer> renderer, OutputStage& output)
    : ctx_(ctx), renderer_(std::move(renderer)), output_(output) {
  limits_.band_samples = std::min(RenderLimits{}.band_samples, renderer_->max_job_samples());
  limits_.memory_budget = ctx_.options.group_memory_budget;
  limits_.cost_budget =
      ctx_.options.group_cost_budget > 0 ? ctx_.options.group_cost_budget : default_cost_budget(*renderer_);
}

void RenderStage::render(const std::vector<std::shared_ptr<WorkItem>>& items) {
  std::vector<const TaskSpec*> specs;
  specs.reserve(items.size());
  for (const auto& item : items) specs.push_back(&item->spec);
  for (const auto& indexes : plan_groups(specs, limits_)) {
    std::vector<std::shared_ptr<WorkItem>> group;
    for (std::size_t i : indexes) group.push_back(items[i]);
    render_group(group);
  }
}

void RenderStage::render_group(const std::vector<std::shared_ptr<WorkItem>>& group) {
  std::vector<std::shared_ptr<WorkItem>> live;
  for (const auto& item : group) {
    if (ctx_.drain_expired()) item->cancel(CancelReason::shutdown);
    if (item->cancel_reason.load() != CancelReason::none) {
      item->run.canceled = true;  // never started
      output_.settle_unfinished(item);
    } else {
      live.push_back(item);
    }
  }
  if (live.empty()) return;

  std::vector<TaskRun*> runs;
  for (const auto& item : live) {
    item->run.samples_done = 0;
    item->phase = Phase::rendering;
    runs.push_back(&item->run);
  }
  std::string error;
  const auto t0 = Clock::now();
  {
    std::lock_guard lock(render_mutex());
    try {
      render_tasks(*renderer_, runs);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ctx_.beat();
  ++ctx_.counters.render_calls;
  ctx_.best_effort("record_batch", [&] { ctx_.metrics.record_batch(live.size()); });
  spdlog::info("event=render_batch worker={} tasks={} seconds={:.3f} ok={}", runtime::log_value(ctx_.options.name), live.size(),
               seconds, error.empty());

  if (!error.empty()) {
    spdlog::warn("event=render_error tasks={} error={}", live.size(), runtime::log_value(error));
    if (live.size() == 1) return output_.fail(live.front(), "render failed: " + error);
    for (const auto& item : live) render_group({item});  // find the one that fails
    return;
  }
  std::vector<std::shared_ptr<WorkItem>> rendered;
  for (const auto& item : live) {
    item->render_seconds = seconds;
    if (item->run.canceled) {
      output_.settle_unfinished(item);
    } else {
      rendered.push_back(item);
    }
  }
  output_.submit(rendered);
}

}  // namespace fractal::scheduler
