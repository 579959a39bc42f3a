#include "scheduler/progress_reporter.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "runtime/logging.h"

namespace fractal::scheduler {

void ProgressReporter::cancel_past_drain() {
  if (!ctx_.drain_expired()) return;
  for (const auto& item : ctx_.in_flight.snapshot()) {
    if (item->phase.load() != Phase::output && item->cancel(CancelReason::shutdown))
      spdlog::info("event=render_cancel task={} reason=drain_timeout", item->task_id);
  }
}

void ProgressReporter::run() {
  bool failing = false;
  while (!ctx_.background_stopped()) {
    ctx_.wait_background(ctx_.options.progress_interval);
    cancel_past_drain();
    std::vector<std::shared_ptr<WorkItem>> watched;
    std::vector<std::pair<std::string, double>> progress;
    std::unordered_map<std::string, std::uint64_t> now;
    bool advanced = false;
    for (auto& item : ctx_.in_flight.snapshot()) {
      if (item->phase.load() == Phase::output || item->cancel_reason.load() != CancelReason::none) continue;
      const double p = item->run.progress();
      if (item->phase.load() == Phase::rendering) {
        // Alive while samples finish or a deep view's reference orbit grows
        // (no sample finishes during the orbit: a minute at 1e-10000).
        const std::uint64_t a = item->run.activity();
        const auto before = last_.find(item->task_id);
        advanced = advanced || before == last_.end() || before->second != a;
        now.emplace(item->task_id, a);
      }
      progress.emplace_back(item->task_id, p);
      watched.push_back(std::move(item));
    }
    last_ = std::move(now);
    if (advanced) ctx_.beat();
    if (watched.empty()) continue;
    try {
      // One statement for all; it updates only tasks still running, so a
      // shortfall means one of them was deleted, canceled or finished elsewhere.
      const std::size_t updated = ctx_.repo.set_progress_many(progress);
      if (updated < watched.size()) {
        std::vector<std::string> ids;
        for (const auto& item : watched) ids.push_back(item->task_id);
        const auto records = ctx_.repo.get_many_by_id(ids);
        for (std::size_t i = 0; i < watched.size(); ++i) {
          const auto& record = records[i];
          if (record && record->status == storage::TaskStatus::running) continue;
          if (watched[i]->cancel(CancelReason::gone)) {
            spdlog::info("event=render_cancel task={} reason={}", watched[i]->task_id,
                         record ? storage::to_string(record->status) : std::string_view("deleted"));
          }
        }
      }
      if (failing) spdlog::info("event=postgres_recovered op=progress");
      failing = false;
    } catch (const std::exception& e) {
      if (!failing) spdlog::warn("event=progress_failed error={}", runtime::log_value(e.what()));
      failing = true;
    }
  }
}

}  // namespace fractal::scheduler
