#include "scheduler/reconciler.h"

#include <spdlog/spdlog.h>

#include <unordered_set>

#include "runtime/logging.h"
#include "storage/uuid.h"

namespace fractal::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

// A temp file older than this belongs to no encode in progress (an encode
// takes seconds; a worker killed mid-encode never comes back for it).
constexpr std::chrono::seconds kPartialMaxAge{3600};

}  // namespace

void Reconciler::run() {
  bool failing = false;
  while (!ctx_.background_stopped()) {
    ctx_.wait_background(ctx_.options.reconcile_interval);
    if (ctx_.background_stopped() || ctx_.stopping()) continue;
    try {
      pass();
      if (failing) spdlog::info("event=reconcile_recovered");
      failing = false;
    } catch (const std::exception& e) {
      if (!failing) spdlog::warn("event=reconcile_failed error={}", runtime::log_value(e.what()));
      failing = true;
    }
  }
}

void Reconciler::pass() {
  // The stream first: an entry acknowledged in between belongs to a task that
  // Postgres already shows finished (mark_done precedes XACK).
  std::unordered_set<std::string> in_stream;
  for (const auto& id : ctx_.queue.task_ids()) {
    if (auto canonical = storage::canonical_uuid(id)) in_stream.insert(*canonical);
  }
  const auto unfinished = ctx_.repo.list_unfinished_ids();
  const auto now = Clock::now();
  std::unordered_map<std::string, Clock::time_point> still_missing;
  std::int64_t requeued = 0;
  for (const auto& id : unfinished) {
    if (in_stream.count(id) || ctx_.in_flight.has_task(id)) continue;
    const auto seen = missing_since_.find(id);
    const Clock::time_point since = seen == missing_since_.end() ? now : seen->second;
    if (now - since < ctx_.options.reconcile_grace()) {
      still_missing.emplace(id, since);
      continue;
    }
    const auto record = ctx_.repo.get_by_id(id);
    if (!record || storage::is_finished(record->status)) continue;
    if (std::chrono::system_clock::now() - record->created_at < ctx_.options.reconcile_min_age) {
      still_missing.emplace(id, since);
      continue;
    }
    if (const auto holder = ctx_.leases.holder(id)) {
      still_missing.emplace(id, since);  // rendered by a live worker whose entry was lost
      continue;
    }
    if (!ctx_.leases.reserve_requeue(id, ctx_.options.reconcile_grace())) continue;  // another worker does it
    ctx_.queue.enqueue(id);
    ++requeued;
    spdlog::info("event=task_reenqueued task={} status={} worker={} reason=missing_from_stream", id,
                 storage::to_string(record->status), runtime::log_value(record->worker.value_or("")));
  }
  missing_since_ = std::move(still_missing);
  // Idempotency-Keys are kept for a day: a retry comes within minutes, and the
  // table must not grow with every submission ever made.
  if (const std::size_t purged = ctx_.repo.purge_idempotency_keys(ctx_.options.idempotency_key_max_age); purged > 0)
    spdlog::info("event=idempotency_keys_purged count={} max_age_s={}", purged,
                 ctx_.options.idempotency_key_max_age.count());
  if (const std::size_t swept = ctx_.store.sweep_partial(kPartialMaxAge); swept > 0)
    spdlog::info("event=partial_files_removed count={} max_age_s={}", swept, kPartialMaxAge.count());
  if (requeued > 0) {
    ctx_.counters.reconciled += requeued;
    ctx_.best_effort("record_reconciled", [&] { ctx_.metrics.record_reconciled(requeued); });
    spdlog::info("event=reconciled worker={} requeued={} unfinished={} in_stream={}", runtime::log_value(ctx_.options.name),
                 requeued, unfinished.size(), in_stream.size());
  }
}

}  // namespace fractal::scheduler
