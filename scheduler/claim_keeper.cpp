#include "scheduler/claim_keeper.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "runtime/logging.h"

namespace fractal::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

void ClaimKeeper::run() {
  auto next_touch = Clock::now();
  auto next_beat = Clock::now();
  while (!ctx_.background_stopped()) {
    const auto now = Clock::now();
    if (now >= next_touch) {
      next_touch = now + ctx_.options.touch_interval();
      touch_claims();
    }
    if (now >= next_beat) {
      next_beat = now + ctx_.options.heartbeat_interval;
      heartbeat();
    }
    const auto next = std::min(next_touch, next_beat);
    ctx_.wait_background(std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()),
                                    std::chrono::milliseconds(10), std::chrono::milliseconds(250)));
  }
}

void ClaimKeeper::touch_claims() {
  const auto items = ctx_.in_flight.snapshot();
  std::vector<std::string> entries = ctx_.in_flight.backlog_ids();
  std::vector<std::string> tasks;
  for (const auto& item : items) {
    entries.push_back(item->entry.id);
    tasks.push_back(item->task_id);
  }
  // Separately: after Redis lost its data the stream may not even exist
  // (touch errors) while the leases must be re-created at once.
  std::unordered_set<std::string> held, lost;
  bool touched = false, refreshed = false;
  try {
    if (!entries.empty()) {
      for (auto& e : ctx_.queue.touch(ctx_.options.name, entries)) held.insert(std::move(e));
    }
    touched = true;
  } catch (const std::exception& e) {
    if (!touch_failing_) spdlog::warn("event=touch_failed error={}", runtime::log_value(e.what()));
  }
  try {
    for (auto& t : ctx_.leases.refresh(tasks, ctx_.options.name, ctx_.options.lease_ttl())) lost.insert(std::move(t));
    refreshed = true;
  } catch (const std::exception& e) {
    if (!touch_failing_) spdlog::warn("event=lease_refresh_failed error={}", runtime::log_value(e.what()));
  }
  for (const auto& item : items) {
    const bool entry_lost = touched && !held.count(item->entry.id);
    const bool lease_lost = refreshed && lost.count(item->task_id);
    if (!entry_lost && !lease_lost) continue;
    if (!ctx_.in_flight.has_entry(item->entry.id) || item->claim_lost.exchange(true)) continue;  // finished meanwhile
    ++ctx_.counters.claims_lost;
    spdlog::warn("event=claim_lost task={} entry={} entry_lost={} lease_lost={} action=finish_render", item->task_id,
                 item->entry.id, entry_lost, lease_lost);
  }
  if (touched && refreshed && touch_failing_) spdlog::info("event=redis_recovered op=touch");
  touch_failing_ = !(touched && refreshed);
}

void ClaimKeeper::heartbeat() {
  try {
    ctx_.metrics.heartbeat(ctx_.options.name);
    beat_failing_ = false;
  } catch (const std::exception& e) {
    if (!beat_failing_) spdlog::warn("event=heartbeat_failed error={}", runtime::log_value(e.what()));
    beat_failing_ = true;
  }
  std::string error;
  const bool written = ctx_.publish_liveness(&error);
  if (!written && !health_failing_) spdlog::warn("event=health_file_failed error={}", runtime::log_value(error));
  health_failing_ = !written;
}

}  // namespace fractal::scheduler
