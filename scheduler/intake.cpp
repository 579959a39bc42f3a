#include "scheduler/intake.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "runtime/logging.h"
#include "storage/uuid.h"

namespace fractal::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Intake::Intake(WorkerContext& ctx) : ctx_(ctx), next_autoclaim_(Clock::now() + ctx.options.autoclaim_interval()) {}

void Intake::recover_own_pending() {
  runtime::Backoff backoff;
  bool warned = false;
  while (!ctx_.stopping()) {
    try {
      auto entries = ctx_.queue.pending_for(ctx_.options.name, std::max<std::size_t>(1000, ctx_.options.batch));
      for (auto& e : entries) backlog_.push_back({std::move(e), false});
      if (!backlog_.empty()) {
        spdlog::info("event=pending_recovered worker={} count={}", runtime::log_value(ctx_.options.name), backlog_.size());
        publish_backlog();
      }
      return;
    } catch (const std::exception& e) {
      if (!warned) spdlog::warn("event=redis_unavailable op=pending_for error={}", runtime::log_value(e.what()));
      warned = true;
      ctx_.pause(backoff.next());
    }
  }
}

void Intake::log_left_pending() const {
  if (!backlog_.empty())
    spdlog::info("event=entries_left_pending worker={} count={} reason=stopping", runtime::log_value(ctx_.options.name),
                 backlog_.size());
}

void Intake::publish_backlog() {
  std::vector<std::string> ids;
  for (const auto& in : backlog_) ids.push_back(in.entry.id);
  ctx_.in_flight.set_backlog(std::move(ids));
}

void Intake::keep_for_later(std::vector<Incoming> rest) {
  // Ahead of the older backlog; their claims stay alive.
  backlog_.insert(backlog_.begin(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
}

std::vector<Intake::Incoming> Intake::receive() {
  std::vector<Incoming> incoming;
  if (!backlog_.empty()) {
    // The taken entries stay in the registry's backlog list (kept alive) until
    // admit() settles them.
    const std::size_t n = std::min(backlog_.size(), ctx_.options.batch);
    incoming.assign(std::make_move_iterator(backlog_.begin()),
                    std::make_move_iterator(backlog_.begin() + static_cast<std::ptrdiff_t>(n)));
    backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(n));
    return incoming;
  }
  try {
    if (Clock::now() >= next_autoclaim_) {
      next_autoclaim_ = Clock::now() + ctx_.options.autoclaim_interval();
      for (auto& e : ctx_.queue.autoclaim(ctx_.options.name, ctx_.options.claim_timeout, ctx_.options.batch)) {
        if (ctx_.in_flight.has_entry(e.id)) continue;  // our own, its keep-alive lagged: still ours now
        incoming.push_back({std::move(e), true});
      }
      if (!incoming.empty())
        spdlog::info("event=entries_taken_over worker={} count={}", runtime::log_value(ctx_.options.name), incoming.size());
    }
    if (incoming.empty()) {
      for (auto& e : ctx_.queue.read(ctx_.options.name, ctx_.options.batch, ctx_.options.block))
        incoming.push_back({std::move(e), false});
    }
    if (redis_down_) spdlog::info("event=redis_recovered op=read");
    redis_down_ = false;
    read_backoff_.reset();
  } catch (const std::exception& e) {
    if (!redis_down_) spdlog::warn("event=redis_unavailable op=read error={}", runtime::log_value(e.what()));
    redis_down_ = true;
    ctx_.pause(read_backoff_.next());
    return {};
  }
  return incoming;
}

std::vector<std::shared_ptr<WorkItem>> Intake::next() {
  std::vector<Incoming> incoming = receive();
  if (incoming.empty()) return {};
  const std::size_t backlog_before = backlog_.size();
  auto items = admit(std::move(incoming));
  if (backlog_.size() > backlog_before) {
    ctx_.pause(backlog_backoff_.next());  // storage is down: the entries went back to the backlog
  } else {
    backlog_backoff_.reset();
  }
  return items;
}

std::vector<std::shared_ptr<WorkItem>> Intake::admit(std::vector<Incoming> incoming) {
  std::vector<bool> settled(incoming.size(), false);
  std::vector<std::size_t> to_ack;  // need no work: acknowledged together
  std::vector<Candidate> candidates;
  std::vector<std::size_t> candidate_of;  // candidates[k] came from incoming[candidate_of[k]]
  auto skip = [&](std::size_t i, const std::string& id, std::string_view reason) {
    to_ack.push_back(i);
    ++ctx_.counters.tasks_skipped;
    spdlog::info("event=task_skipped task={} entry={} reason={}", id, incoming[i].entry.id, reason);
  };
  try {
    // 1. Checks without I/O (dead letters aside: rare, one at a time).
    std::unordered_set<std::string> batch_tasks;
    std::vector<std::size_t> lookup;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < incoming.size(); ++i) {
      const storage::StreamEntry& e = incoming[i].entry;
      if (ctx_.in_flight.has_entry(e.id)) {
        settled[i] = true;
        continue;
      }
      const auto id = storage::canonical_uuid(e.task_id);
      if (!id) {
        spdlog::warn("event=entry_malformed entry={} task={} action=dead_letter", e.id, runtime::log_value(e.task_id));
        ctx_.queue.dead_letter(e, "malformed entry: no task id");
        settled[i] = true;
        ++ctx_.counters.dead_lettered;
        ctx_.best_effort("record_dead_letter", [&] { ctx_.metrics.record_dead_letter(); });
        continue;
      }
      if (ctx_.in_flight.has_task(*id) || batch_tasks.count(*id) > 0) {
        skip(i, *id, "duplicate_entry");  // a second entry of a task rendered now (re-enqueued meanwhile)
        continue;
      }
      if (e.deliveries > ctx_.options.max_deliveries) {
        dead_letter(e, *id);
        settled[i] = true;
        continue;
      }
      batch_tasks.insert(*id);
      lookup.push_back(i);
      ids.push_back(*id);
    }

    // 2. One query for the task records; the stored parameters parsed.
    const auto records = ids.empty() ? std::vector<std::optional<storage::TaskRecord>>{} : ctx_.repo.get_many_by_id(ids);
    for (std::size_t k = 0; k < lookup.size(); ++k) {
      const std::size_t i = lookup[k];
      const std::string& id = ids[k];
      const auto& record = records[k];
      if (!record || storage::is_finished(record->status)) {
        skip(i, id, record ? storage::to_string(record->status) : std::string_view("deleted"));
        continue;
      }
      ParseResult parsed;
      try {
        parsed = parse_task_spec(record->params);  // to_json(spec) as the server stored it
      } catch (const std::exception& ex) {
        parsed.error = FieldError{"invalid_parameter", "", std::string("unreadable params: ") + ex.what()};
      }
      if (!parsed.ok()) {
        const std::string message =
            "invalid params: " + (parsed.error ? parsed.error->message : std::string("not a render request"));
        ctx_.repo.mark_failed(id, message);
        to_ack.push_back(i);
        ++ctx_.counters.tasks_failed;
        ctx_.best_effort("record_failure", [&] { ctx_.metrics.record_failure(); });
        spdlog::warn("event=task_failed task={} entry={} reason=invalid_params error={}", id, incoming[i].entry.id,
                     runtime::log_value(message));
        continue;
      }
      // Holding the lease proves no live worker renders the task, so one still
      // "running" under another worker (that died while Redis lost its entry)
      // may be taken over.
      const bool reclaim = incoming[i].autoclaimed ||
                           (record->status == storage::TaskStatus::running && record->worker != ctx_.options.name);
      candidates.push_back(Candidate{incoming[i], id, std::move(*parsed.spec), reclaim});
      candidate_of.push_back(i);
    }

    // 3. Render leases, one call each way. Entries taken over with XAUTOCLAIM
    // override a lease; a lease another worker holds on a new entry means a
    // live worker renders the task (its own entry was lost, e.g. Redis
    // restarted empty): this entry is a duplicate.
    std::vector<std::string> taken, wanted;
    for (const auto& c : candidates) (c.in.autoclaimed ? taken : wanted).push_back(c.task_id);
    ctx_.leases.take_many(taken, ctx_.options.name, ctx_.options.lease_ttl());
    const std::vector<bool> held = ctx_.leases.acquire_many(wanted, ctx_.options.name, ctx_.options.lease_ttl());
    std::vector<Candidate> admitted;
    std::vector<std::size_t> admitted_of;
    for (std::size_t k = 0, w = 0; k < candidates.size(); ++k) {
      if (!candidates[k].in.autoclaimed && !held[w++]) {
        skip(candidate_of[k], candidates[k].task_id, "rendered_elsewhere");
        continue;
      }
      admitted.push_back(std::move(candidates[k]));
      admitted_of.push_back(candidate_of[k]);
    }
    candidates = std::move(admitted);
    candidate_of = std::move(admitted_of);

    // 4. One XACK call for everything that needs no work.
    if (!to_ack.empty()) {
      std::vector<std::string> entries;
      for (std::size_t i : to_ack) entries.push_back(incoming[i].entry.id);
      ctx_.queue.ack_many(entries);
      for (std::size_t i : to_ack) settled[i] = true;
      to_ack.clear();
    }
  } catch (const storage::StorageUnavailable& e) {
    // Everything not settled waits in the backlog; the leases taken expire or
    // are taken again by this worker.
    std::vector<Incoming> rest;
    for (std::size_t i = 0; i < incoming.size(); ++i)
      if (!settled[i]) rest.push_back(std::move(incoming[i]));
    spdlog::warn("event=storage_unavailable service={} op=admit waiting={} error={}", e.service(), rest.size(),
                 runtime::log_value(e.what()));
    keep_for_later(std::move(rest));
    publish_backlog();
    return {};
  } catch (const std::exception& e) {
    // Not an outage: leave the entries pending. They are taken over after the
    // claim timeout and dead-lettered once delivered too often.
    for (std::size_t i = 0; i < incoming.size(); ++i) {
      if (settled[i]) continue;
      spdlog::error("event=admit_failed task={} entry={} error={} action=left_pending",
                    runtime::log_value(incoming[i].entry.task_id), incoming[i].entry.id, runtime::log_value(e.what()));
    }
    std::vector<std::string> tasks;
    for (const auto& c : candidates) tasks.push_back(c.task_id);
    ctx_.release_leases(tasks);
    publish_backlog();
    return {};
  }

  // 5. One transaction claims the rest.
  std::vector<std::shared_ptr<WorkItem>> items;
  if (!candidates.empty()) {
    try {
      items = claim(candidates);
    } catch (const storage::StorageUnavailable& e) {
      spdlog::warn("event=storage_unavailable service={} op=claim waiting={} error={}", e.service(), candidates.size(),
                   runtime::log_value(e.what()));
      std::vector<Incoming> rest;
      for (auto& c : candidates) rest.push_back(std::move(c.in));
      keep_for_later(std::move(rest));
    } catch (const std::exception& e) {
      std::vector<std::string> tasks;
      for (const auto& c : candidates) {
        spdlog::error("event=admit_failed task={} entry={} error={} action=left_pending", c.task_id, c.in.entry.id,
                      runtime::log_value(e.what()));
        tasks.push_back(c.task_id);
      }
      ctx_.release_leases(tasks);
    }
  }
  publish_backlog();
  return items;
}

std::vector<std::shared_ptr<WorkItem>> Intake::claim(std::vector<Candidate>& candidates) {
  std::vector<storage::ClaimRequest> requests;
  requests.reserve(candidates.size());
  for (const auto& c : candidates) requests.push_back({c.task_id, c.reclaim});
  const std::vector<storage::ClaimResult> claims =
      ctx_.repo.mark_running_many(requests, ctx_.options.name, ctx_.backend);
  std::vector<std::shared_ptr<WorkItem>> items;
  std::vector<std::string> unclaimed_tasks, unclaimed_entries;
  std::int64_t redeliveries = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    Candidate& c = candidates[i];
    const storage::StreamEntry& e = c.in.entry;
    const storage::ClaimResult& claim = claims.at(i);
    if (claim.status != storage::ClaimStatus::claimed) {
      unclaimed_tasks.push_back(c.task_id);
      unclaimed_entries.push_back(e.id);
      ++ctx_.counters.tasks_skipped;
      spdlog::info("event=task_skipped task={} entry={} reason={}", c.task_id, e.id,
                   claim.status == storage::ClaimStatus::not_found ? "deleted" : "not_claimable");
      continue;
    }
    auto item = std::make_shared<WorkItem>(e, c.task_id, std::move(c.spec));
    item->created_at = claim.task->created_at;
    item->started_at = claim.task->started_at.value_or(std::chrono::system_clock::now());
    ctx_.in_flight.add(item);
    if (e.deliveries > 1) {
      ++ctx_.counters.redeliveries;
      ++redeliveries;
    }
    spdlog::info("event=task_claimed task={} entry={} deliveries={} attempt={} taken_over={} queue_wait_ms={} batch={}",
                 c.task_id, e.id, e.deliveries, claim.task->attempts, c.reclaim,
                 std::chrono::duration_cast<std::chrono::milliseconds>(item->started_at - item->created_at).count(),
                 candidates.size());
    items.push_back(std::move(item));
  }
  if (redeliveries > 0) ctx_.best_effort("record_redeliveries", [&] { ctx_.metrics.record_redeliveries(redeliveries); });
  if (!unclaimed_tasks.empty()) {
    ctx_.release_leases(unclaimed_tasks);
    try {
      ctx_.queue.ack_many(unclaimed_entries);
    } catch (const std::exception& ex) {
      // Left pending: delivered again, found finished/deleted and acknowledged then.
      spdlog::warn("event=ack_failed entries={} error={}", unclaimed_entries.size(), runtime::log_value(ex.what()));
    }
  }
  return items;
}

void Intake::dead_letter(const storage::StreamEntry& entry, const std::string& task_id) {
  const auto record = ctx_.repo.get_by_id(task_id);
  if (!record || storage::is_finished(record->status)) {
    ctx_.queue.ack(entry.id);  // nothing left to fail
    ++ctx_.counters.tasks_skipped;
    return;
  }
  const std::string reason = "render failed after " + std::to_string(ctx_.options.max_deliveries) +
                             " attempts: the worker rendering it stopped or crashed each time";
  ctx_.repo.mark_failed(task_id, reason);
  ctx_.queue.dead_letter(entry, reason);
  ++ctx_.counters.dead_lettered;
  ++ctx_.counters.tasks_failed;
  ctx_.best_effort("record_dead_letter", [&] {
    ctx_.metrics.record_dead_letter();
    ctx_.metrics.record_failure();
  });
  spdlog::warn("event=task_dead_lettered task={} entry={} deliveries={} max_deliveries={}", task_id, entry.id,
               entry.deliveries, ctx_.options.max_deliveries);
}

}  // namespace fractal::scheduler
