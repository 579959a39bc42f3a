// The worker's background threads: progress and deletion checks (Postgres),
// claim keep-alive and heartbeat (Redis), and the reconciler (both).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "scheduler/log_text.h"
#include "scheduler/worker.h"
#include "storage/uuid.h"

namespace fractal::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

void Worker::check_drain() {
  if (!drain_expired()) return;
  for (const auto& item : in_flight_.snapshot()) {
    if (item->phase.load() != Phase::output && item->cancel(CancelReason::shutdown))
      spdlog::info("event=render_cancel task={} reason=drain_timeout", item->task_id);
  }
}

void Worker::progress_loop() {
  bool failing = false;
  while (!background_stop_.load()) {
    wait_background(options_.progress_interval);
    check_drain();
    std::vector<std::shared_ptr<WorkItem>> watched;
    std::vector<std::pair<std::string, double>> progress;
    for (auto& item : in_flight_.snapshot()) {
      if (item->phase.load() == Phase::output || item->cancel_reason.load() != CancelReason::none) continue;
      progress.emplace_back(item->task_id, item->run.progress());
      watched.push_back(std::move(item));
    }
    if (watched.empty()) continue;
    try {
      // One statement for all; it updates only tasks still running, so a
      // shortfall means one of them was deleted, canceled or finished elsewhere.
      const std::size_t updated = repo_.set_progress_many(progress);
      if (updated < watched.size()) {
        for (const auto& item : watched) {
          const auto record = repo_.get_by_id(item->task_id);
          if (record && record->status == storage::TaskStatus::running) continue;
          if (item->cancel(CancelReason::gone)) {
            spdlog::info("event=render_cancel task={} reason={}", item->task_id,
                         record ? storage::to_string(record->status) : std::string_view("deleted"));
          }
        }
      }
      if (failing) spdlog::info("event=postgres_recovered op=progress");
      failing = false;
    } catch (const std::exception& e) {
      if (!failing) spdlog::warn("event=progress_failed error={}", log_value(e.what()));
      failing = true;
    }
  }
}

void Worker::keepalive_loop() {
  auto next_touch = Clock::now();
  auto next_beat = Clock::now();
  bool touch_failing = false, beat_failing = false;
  while (!background_stop_.load()) {
    const auto now = Clock::now();
    if (now >= next_touch) {
      next_touch = now + options_.touch_interval();
      const auto items = in_flight_.snapshot();
      std::vector<std::string> entries = in_flight_.backlog_ids();
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
          for (auto& e : queue_.touch(options_.name, entries)) held.insert(std::move(e));
        }
        touched = true;
      } catch (const std::exception& e) {
        if (!touch_failing) spdlog::warn("event=touch_failed error={}", log_value(e.what()));
      }
      try {
        for (auto& t : leases_.refresh(tasks, options_.name, options_.lease_ttl())) lost.insert(std::move(t));
        refreshed = true;
      } catch (const std::exception& e) {
        if (!touch_failing) spdlog::warn("event=lease_refresh_failed error={}", log_value(e.what()));
      }
      for (const auto& item : items) {
        const bool entry_lost = touched && !held.count(item->entry.id);
        const bool lease_lost = refreshed && lost.count(item->task_id);
        if (!entry_lost && !lease_lost) continue;
        if (!in_flight_.has_entry(item->entry.id) || item->claim_lost.exchange(true)) continue;  // finished meanwhile
        ++counters_.claims_lost;
        spdlog::warn("event=claim_lost task={} entry={} entry_lost={} lease_lost={} action=finish_render",
                     item->task_id, item->entry.id, entry_lost, lease_lost);
      }
      if (touched && refreshed && touch_failing) spdlog::info("event=redis_recovered op=touch");
      touch_failing = !(touched && refreshed);
    }
    if (now >= next_beat) {
      next_beat = now + options_.heartbeat_interval;
      try {
        metrics_.heartbeat(options_.name);
        beat_failing = false;
      } catch (const std::exception& e) {
        if (!beat_failing) spdlog::warn("event=heartbeat_failed error={}", log_value(e.what()));
        beat_failing = true;
      }
    }
    check_drain();
    const auto next = std::min(next_touch, next_beat);
    wait_background(std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()),
                               std::chrono::milliseconds(10), std::chrono::milliseconds(250)));
  }
}

void Worker::reconcile_loop() {
  bool failing = false;
  while (!background_stop_.load()) {
    wait_background(options_.reconcile_interval);
    if (background_stop_.load() || stopping()) continue;
    try {
      reconcile_pass();
      if (failing) spdlog::info("event=reconcile_recovered");
      failing = false;
    } catch (const std::exception& e) {
      if (!failing) spdlog::warn("event=reconcile_failed error={}", log_value(e.what()));
      failing = true;
    }
  }
}

// Re-enqueues tasks that Postgres shows queued or running but that no stream
// entry carries (Redis lost its data, or a server died between INSERT and
// XADD). Not re-enqueued: tasks this worker holds; tasks seen missing for less
// than reconcile_grace (the server may be about to XADD; a live worker's lease
// may not be re-created yet); tasks younger than reconcile_min_age; tasks whose
// render lease a live worker holds; tasks another worker re-enqueues now.
void Worker::reconcile_pass() {
  // The stream first: an entry acknowledged in between belongs to a task that
  // Postgres already shows finished (mark_done precedes XACK).
  std::unordered_set<std::string> in_stream;
  for (const auto& id : queue_.task_ids()) {
    if (auto canonical = storage::canonical_uuid(id)) in_stream.insert(*canonical);
  }
  const auto unfinished = repo_.list_unfinished_ids();
  const auto now = Clock::now();
  std::unordered_map<std::string, Clock::time_point> still_missing;
  std::int64_t requeued = 0;
  for (const auto& id : unfinished) {
    if (in_stream.count(id) || in_flight_.has_task(id)) continue;
    const auto seen = missing_since_.find(id);
    const Clock::time_point since = seen == missing_since_.end() ? now : seen->second;
    if (now - since < options_.reconcile_grace()) {
      still_missing.emplace(id, since);
      continue;
    }
    const auto record = repo_.get_by_id(id);
    if (!record || storage::is_finished(record->status)) continue;
    if (std::chrono::system_clock::now() - record->created_at < options_.reconcile_min_age) {
      still_missing.emplace(id, since);
      continue;
    }
    if (const auto holder = leases_.holder(id)) {
      still_missing.emplace(id, since);  // rendered by a live worker whose entry was lost
      continue;
    }
    if (!leases_.reserve_requeue(id, options_.reconcile_grace())) continue;  // another worker does it
    queue_.enqueue(id);
    ++requeued;
    spdlog::info("event=task_reenqueued task={} status={} worker={} reason=missing_from_stream", id,
                 storage::to_string(record->status), log_value(record->worker.value_or("")));
  }
  missing_since_ = std::move(still_missing);
  // Idempotency-Keys are kept for a day: a retry comes within minutes, and the
  // table must not grow with every submission ever made.
  if (const std::size_t purged = repo_.purge_idempotency_keys(options_.idempotency_key_max_age); purged > 0)
    spdlog::info("event=idempotency_keys_purged count={} max_age_s={}", purged, options_.idempotency_key_max_age.count());
  if (requeued > 0) {
    counters_.reconciled += requeued;
    try {
      metrics_.record_reconciled(requeued);
    } catch (const std::exception& e) {
      spdlog::warn("event=metrics_failed op=record_reconciled error={}", log_value(e.what()));
    }
    spdlog::info("event=reconciled worker={} requeued={} unfinished={} in_stream={}", log_value(options_.name),
                 requeued, unfinished.size(), in_stream.size());
  }
}

}  // namespace fractal::scheduler
