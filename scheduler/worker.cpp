// The render thread: take entries from the stream, claim their tasks in
// Postgres, render them in groups, hand the images to the output stage.
#include "scheduler/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "kernels/render_task.h"
#include "scheduler/backoff.h"
#include "scheduler/log_text.h"
#include "storage/migrations.h"
#include "storage/uuid.h"

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

WorkerOptions checked(WorkerOptions o) {
  if (o.name.empty()) o.name = default_worker_name();
  if (const std::string why = o.validate(); !why.empty()) throw std::invalid_argument(why);
  return o;
}

storage::PgPoolOptions pool_options(const WorkerOptions& o) {
  storage::PgPoolOptions p;
  p.conninfo = o.pg_conninfo;
  // render + progress + reconciler + one per output thread, and a spare.
  p.size = static_cast<std::size_t>(o.encode_threads) + 4;
  return p;
}

double default_cost_budget(const Renderer& r) {
  // About half a second of work per render call where the device's bound is
  // known (GPU); on the CPU a few seconds of worst-case work.
  const double peak = r.peak_iterations_per_second(Scalar::f64);
  return peak > 0 ? peak * 0.5 : 4e9;
}

template <class F>
void best_effort(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::warn("event=metrics_failed op={} error={}", what, log_value(e.what()));
  }
}

}  // namespace

Worker::Worker(WorkerOptions options)
    : options_(checked(std::move(options))),
      pool_(pool_options(options_)),
      repo_(pool_),
      queue_(options_.redis, options_.queue),
      metrics_(options_.redis),
      store_(options_.data_dir),
      leases_(options_.redis, options_.queue.stream + ":") {}

Worker::~Worker() {
  stop();
  if (encode_) encode_->finish();
}

std::string Worker::backend() const { return started_.load() ? backend_ : std::string(); }

WorkerCounters Worker::counters() const {
  const Counters& c = counters_;
  return WorkerCounters{c.render_calls.load(),   c.tasks_rendered.load(), c.tasks_failed.load(),
                        c.tasks_canceled.load(), c.tasks_skipped.load(),  c.dead_lettered.load(),
                        c.redeliveries.load(),   c.reconciled.load(),     c.handed_off.load(),
                        c.claims_lost.load()};
}

TileCounters Worker::tile_counters() const { return started_.load() && tiles_ ? tiles_->counters() : TileCounters{}; }

void Worker::stop() noexcept {
  bool expected = false;
  if (stopping_.compare_exchange_strong(expected, true)) {
    drain_deadline_ns_ = (Clock::now() + options_.drain_timeout).time_since_epoch().count();
    spdlog::info("event=worker_stopping worker={} in_flight={} drain_timeout_ms={}", log_value(options_.name),
                 in_flight_.size(), options_.drain_timeout.count());
  }
  { std::lock_guard lock(wake_mutex_); }
  wake_.notify_all();
}

bool Worker::drain_expired() const {
  return stopping_.load() && Clock::now().time_since_epoch().count() > drain_deadline_ns_.load();
}

void Worker::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(wake_mutex_);
  wake_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void Worker::wait_background(std::chrono::milliseconds d) {
  std::unique_lock lock(wake_mutex_);
  wake_.wait_for(lock, std::max(d, std::chrono::milliseconds(1)), [this] { return background_stop_.load(); });
}

void Worker::run() {
  if (running_.exchange(true)) throw std::logic_error("Worker::run: a worker runs once");
  renderer_ = options_.renderer ? options_.renderer
                                : std::shared_ptr<Renderer>(make_renderer(options_.backend, {.threads = options_.threads}));
  backend_ = renderer_->name();
  limits_.band_samples = std::min(RenderLimits{}.band_samples, renderer_->max_job_samples());
  limits_.memory_budget = options_.group_memory_budget;
  limits_.cost_budget = options_.group_cost_budget > 0 ? options_.group_cost_budget : default_cost_budget(*renderer_);
  spdlog::info(
      "event=worker_start worker={} backend={} stream={} group={} batch={} block_ms={} claim_timeout_ms={} "
      "max_deliveries={} reconcile_interval_ms={} encode_threads={} png_compression={} data_dir={}",
      log_value(options_.name), log_value(backend_), log_value(options_.queue.stream), log_value(options_.queue.group),
      options_.batch, options_.block.count(), options_.claim_timeout.count(), options_.max_deliveries,
      options_.reconcile_interval.count(), options_.encode_threads, options_.png_compression,
      log_value(store_.root().string()));

  migrate_schema();
  if (stopping()) {  // stopped before the database was reachable: nothing was taken
    spdlog::info("event=worker_stop worker={} reason=stopped_before_start", log_value(options_.name));
    return;
  }
  encode_ = std::make_unique<EncodePool>(options_.encode_threads);
  std::thread tile_thread;
  if (options_.tiles) {
    // A renderer of its own: a tile never waits for the task render in progress.
    std::shared_ptr<Renderer> tile_renderer =
        options_.tile_renderer ? options_.tile_renderer
                               : std::shared_ptr<Renderer>(make_renderer(options_.backend, {.threads = options_.threads}));
    tiles_ = std::make_unique<TileLane>(options_, std::move(tile_renderer));
    tile_thread = std::thread([this] { tiles_->run(stopping_); });
  }
  std::thread progress([this] { progress_loop(); });
  std::thread keepalive([this] { keepalive_loop(); });
  std::thread reconciler([this] { reconcile_loop(); });
  started_ = true;

  std::exception_ptr failure;
  try {
    main_loop();
  } catch (...) {
    failure = std::current_exception();  // a bug: still shut the threads down cleanly
    spdlog::critical("event=worker_error worker={}", log_value(options_.name));
  }
  stop();
  if (tile_thread.joinable()) tile_thread.join();
  encode_->finish();  // the output stage drains; keep-alive still runs meanwhile
  background_stop_ = true;
  { std::lock_guard lock(wake_mutex_); }
  wake_.notify_all();
  progress.join();
  keepalive.join();
  reconciler.join();
  best_effort("worker_stopped", [&] { metrics_.worker_stopped(options_.name); });
  const WorkerCounters c = counters();
  spdlog::info("event=worker_stop worker={} rendered={} failed={} canceled={} skipped={} handed_off={}",
               log_value(options_.name), c.tasks_rendered, c.tasks_failed, c.tasks_canceled, c.tasks_skipped,
               c.handed_off);
  if (failure) std::rethrow_exception(failure);
}

void Worker::migrate_schema() {
  Backoff backoff;
  bool warned = false;
  while (!stopping()) {
    try {
      const auto report = storage::migrate(pool_);
      spdlog::info("event=schema_ready version={} applied={}", report.to_version, report.applied.size());
      return;
    } catch (const std::exception& e) {
      if (!warned) spdlog::warn("event=postgres_unavailable op=migrate error={}", log_value(e.what()));
      warned = true;
      pause(backoff.next());
    }
  }
}

void Worker::main_loop() {
  recover_own_pending();
  Backoff backoff;
  bool redis_down = false;
  auto next_autoclaim = Clock::now() + options_.autoclaim_interval();
  while (!stopping()) {
    encode_->wait_below(options_.max_pending_encode_bytes, [this] { return stopping(); });
    if (stopping()) break;

    std::vector<Incoming> incoming;
    if (!backlog_.empty()) {
      incoming = take_backlog();
    } else {
      try {
        if (Clock::now() >= next_autoclaim) {
          next_autoclaim = Clock::now() + options_.autoclaim_interval();
          for (auto& e : queue_.autoclaim(options_.name, options_.claim_timeout, options_.batch)) {
            if (in_flight_.has_entry(e.id)) continue;  // our own, its keep-alive lagged: still ours now
            incoming.push_back({std::move(e), true});
          }
          if (!incoming.empty())
            spdlog::info("event=entries_taken_over worker={} count={}", log_value(options_.name), incoming.size());
        }
        if (incoming.empty()) {
          for (auto& e : queue_.read(options_.name, options_.batch, options_.block)) incoming.push_back({std::move(e), false});
        }
        if (redis_down) spdlog::info("event=redis_recovered op=read");
        redis_down = false;
      } catch (const std::exception& e) {
        if (!redis_down) spdlog::warn("event=redis_unavailable op=read error={}", log_value(e.what()));
        redis_down = true;
        pause(backoff.next());
        continue;
      }
    }
    if (incoming.empty()) {
      backoff.reset();
      continue;
    }
    const auto items = admit_all(std::move(incoming));
    if (!items.empty()) render_items(items);
    if (!backlog_.empty()) {
      pause(backoff.next());
    } else {
      backoff.reset();
    }
  }
  if (!backlog_.empty())
    spdlog::info("event=entries_left_pending worker={} count={} reason=stopping", log_value(options_.name),
                 backlog_.size());
}

void Worker::recover_own_pending() {
  Backoff backoff;
  bool warned = false;
  while (!stopping()) {
    try {
      auto entries = queue_.pending_for(options_.name, std::max<std::size_t>(1000, options_.batch));
      for (auto& e : entries) backlog_.push_back({std::move(e), false});
      if (!backlog_.empty()) {
        spdlog::info("event=pending_recovered worker={} count={}", log_value(options_.name), backlog_.size());
        std::vector<std::string> ids;
        for (const auto& in : backlog_) ids.push_back(in.entry.id);
        in_flight_.set_backlog(std::move(ids));
      }
      return;
    } catch (const std::exception& e) {
      if (!warned) spdlog::warn("event=redis_unavailable op=pending_for error={}", log_value(e.what()));
      warned = true;
      pause(backoff.next());
    }
  }
}

std::vector<Worker::Incoming> Worker::take_backlog() {
  // The taken entries stay in the registry's backlog list (kept alive) until
  // admit_all settles them.
  const std::size_t n = std::min(backlog_.size(), options_.batch);
  std::vector<Incoming> taken(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(n));
  backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(n));
  return taken;
}

std::vector<std::shared_ptr<WorkItem>> Worker::admit_all(std::vector<Incoming> incoming) {
  // Every entry is checked on its own (admit); those that may be claimed are
  // then claimed together, one transaction for the batch (claim_all).
  std::vector<std::shared_ptr<WorkItem>> items;
  std::vector<Admitted> admitted;
  std::unordered_set<std::string> batch_tasks;
  auto keep_for_later = [&](std::vector<Incoming> rest) {
    // Ahead of the older backlog; their claims stay alive.
    backlog_.insert(backlog_.begin(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
  };
  for (std::size_t i = 0; i < incoming.size(); ++i) {
    try {
      if (auto a = admit(incoming[i], batch_tasks)) {
        batch_tasks.insert(a->task_id);
        admitted.push_back(std::move(*a));
      }
    } catch (const storage::StorageUnavailable& e) {
      spdlog::warn("event=storage_unavailable service={} op=admit waiting={} error={}", e.service(),
                   incoming.size() - i + admitted.size(), log_value(e.what()));
      std::vector<Incoming> rest;
      for (auto& a : admitted) rest.push_back(std::move(a.in));
      admitted.clear();
      rest.insert(rest.end(), std::make_move_iterator(incoming.begin() + static_cast<std::ptrdiff_t>(i)),
                  std::make_move_iterator(incoming.end()));
      keep_for_later(std::move(rest));
      break;
    } catch (const std::exception& e) {
      // Not an outage: leave the entry pending. It is taken over after the
      // claim timeout and dead-lettered once it was delivered too often.
      spdlog::error("event=admit_failed task={} entry={} error={} action=left_pending",
                    log_value(incoming[i].entry.task_id), incoming[i].entry.id, log_value(e.what()));
    }
  }
  if (!admitted.empty()) {
    try {
      items = claim_all(admitted);
    } catch (const storage::StorageUnavailable& e) {
      spdlog::warn("event=storage_unavailable service={} op=claim waiting={} error={}", e.service(), admitted.size(),
                   log_value(e.what()));
      std::vector<Incoming> rest;
      for (auto& a : admitted) rest.push_back(std::move(a.in));
      keep_for_later(std::move(rest));
    } catch (const std::exception& e) {
      for (const auto& a : admitted) {
        spdlog::error("event=admit_failed task={} entry={} error={} action=left_pending", a.task_id, a.in.entry.id,
                      log_value(e.what()));
        release_lease(a.task_id);
      }
    }
  }
  std::vector<std::string> ids;
  for (const auto& in : backlog_) ids.push_back(in.entry.id);
  in_flight_.set_backlog(std::move(ids));
  return items;
}

std::optional<Worker::Admitted> Worker::admit(const Incoming& in, const std::unordered_set<std::string>& batch_tasks) {
  const storage::StreamEntry& e = in.entry;
  if (in_flight_.has_entry(e.id)) return std::nullopt;
  const auto id = storage::canonical_uuid(e.task_id);
  if (!id) {
    spdlog::warn("event=entry_malformed entry={} task={} action=dead_letter", e.id, log_value(e.task_id));
    queue_.dead_letter(e, "malformed entry: no task id");
    ++counters_.dead_lettered;
    best_effort("record_dead_letter", [&] { metrics_.record_dead_letter(); });
    return std::nullopt;
  }
  if (in_flight_.has_task(*id) || batch_tasks.count(*id) > 0) {
    // A second entry of a task this worker renders now (re-enqueued meanwhile).
    queue_.ack(e.id);
    ++counters_.tasks_skipped;
    spdlog::info("event=task_skipped task={} entry={} reason=duplicate_entry", *id, e.id);
    return std::nullopt;
  }
  if (e.deliveries > options_.max_deliveries) {
    dead_letter(e, *id);
    return std::nullopt;
  }

  const auto record = repo_.get_by_id(*id);
  if (!record || storage::is_finished(record->status)) {
    queue_.ack(e.id);
    ++counters_.tasks_skipped;
    spdlog::info("event=task_skipped task={} entry={} reason={}", *id, e.id,
                 record ? storage::to_string(record->status) : std::string_view("deleted"));
    return std::nullopt;
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
    repo_.mark_failed(*id, message);
    queue_.ack(e.id);
    ++counters_.tasks_failed;
    best_effort("record_failure", [&] { metrics_.record_failure(); });
    spdlog::warn("event=task_failed task={} entry={} reason=invalid_params error={}", *id, e.id, log_value(message));
    return std::nullopt;
  }

  if (in.autoclaimed) {
    leases_.take(*id, options_.name, options_.lease_ttl());
  } else if (!leases_.acquire(*id, options_.name, options_.lease_ttl())) {
    // A live worker renders it (its own entry was lost, e.g. Redis restarted
    // empty); this entry is a duplicate.
    queue_.ack(e.id);
    ++counters_.tasks_skipped;
    spdlog::info("event=task_skipped task={} entry={} reason=rendered_elsewhere", *id, e.id);
    return std::nullopt;
  }
  // Holding the lease proves no live worker renders the task, so one still
  // "running" under another worker (that died while Redis lost its entry) may
  // be taken over.
  const bool reclaim =
      in.autoclaimed || (record->status == storage::TaskStatus::running && record->worker != options_.name);
  return Admitted{in, *id, std::move(*parsed.spec), reclaim};
}

std::vector<std::shared_ptr<WorkItem>> Worker::claim_all(std::vector<Admitted>& admitted) {
  std::vector<storage::ClaimRequest> requests;
  requests.reserve(admitted.size());
  for (const auto& a : admitted) requests.push_back({a.task_id, a.reclaim});
  const std::vector<storage::ClaimResult> claims = repo_.mark_running_many(requests, options_.name, backend_);
  std::vector<std::shared_ptr<WorkItem>> items;
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    Admitted& a = admitted[i];
    const storage::StreamEntry& e = a.in.entry;
    const std::string& id = a.task_id;
    const storage::ClaimResult& claim = claims.at(i);
    if (claim.status != storage::ClaimStatus::claimed) {
      release_lease(id);
      try {
        queue_.ack(e.id);
      } catch (const std::exception& ex) {
        // Left pending: delivered again, found finished/deleted and acknowledged then.
        spdlog::warn("event=ack_failed task={} entry={} error={}", id, e.id, log_value(ex.what()));
      }
      ++counters_.tasks_skipped;
      spdlog::info("event=task_skipped task={} entry={} reason={}", id, e.id,
                   claim.status == storage::ClaimStatus::not_found ? "deleted" : "not_claimable");
      continue;
    }
    auto item = std::make_shared<WorkItem>(e, id, std::move(a.spec));
    item->created_at = claim.task->created_at;
    item->started_at = claim.task->started_at.value_or(std::chrono::system_clock::now());
    in_flight_.add(item);
    if (e.deliveries > 1) {
      ++counters_.redeliveries;
      best_effort("record_redeliveries", [&] { metrics_.record_redeliveries(1); });
    }
    spdlog::info("event=task_claimed task={} entry={} deliveries={} attempt={} taken_over={} queue_wait_ms={} batch={}",
                 id, e.id, e.deliveries, claim.task->attempts, a.reclaim,
                 std::chrono::duration_cast<std::chrono::milliseconds>(item->started_at - item->created_at).count(),
                 admitted.size());
    items.push_back(std::move(item));
  }
  return items;
}

void Worker::dead_letter(const storage::StreamEntry& entry, const std::string& task_id) {
  const auto record = repo_.get_by_id(task_id);
  if (!record || storage::is_finished(record->status)) {
    queue_.ack(entry.id);  // nothing left to fail
    ++counters_.tasks_skipped;
    return;
  }
  const std::string reason = "render failed after " + std::to_string(options_.max_deliveries) +
                             " attempts: the worker rendering it stopped or crashed each time";
  repo_.mark_failed(task_id, reason);
  queue_.dead_letter(entry, reason);
  ++counters_.dead_lettered;
  ++counters_.tasks_failed;
  best_effort("record_dead_letter", [&] {
    metrics_.record_dead_letter();
    metrics_.record_failure();
  });
  spdlog::warn("event=task_dead_lettered task={} entry={} deliveries={} max_deliveries={}", task_id, entry.id,
               entry.deliveries, options_.max_deliveries);
}

void Worker::render_items(const std::vector<std::shared_ptr<WorkItem>>& items) {
  std::vector<const TaskSpec*> specs;
  specs.reserve(items.size());
  for (const auto& item : items) specs.push_back(&item->spec);
  for (const auto& indexes : plan_groups(specs, limits_)) {
    std::vector<std::shared_ptr<WorkItem>> group;
    for (std::size_t i : indexes) group.push_back(items[i]);
    render_group(group);
  }
}

void Worker::render_group(const std::vector<std::shared_ptr<WorkItem>>& group) {
  std::vector<std::shared_ptr<WorkItem>> live;
  for (const auto& item : group) {
    if (drain_expired()) item->cancel(CancelReason::shutdown);
    if (item->cancel_reason.load() != CancelReason::none) {
      item->run.canceled = true;  // never started
      dispatch(item);
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
  ++counters_.render_calls;
  best_effort("record_batch", [&] { metrics_.record_batch(live.size()); });
  spdlog::info("event=render_batch worker={} tasks={} seconds={:.3f} ok={}", log_value(options_.name), live.size(),
               seconds, error.empty());

  if (!error.empty()) {
    spdlog::warn("event=render_error tasks={} error={}", live.size(), log_value(error));
    if (live.size() == 1) {
      fail(live.front(), "render failed: " + error);
      return;
    }
    for (const auto& item : live) render_group({item});  // find the one that fails
    return;
  }
  std::size_t to_output = 0;
  for (const auto& item : live) to_output += item->run.canceled ? 0 : 1;
  const auto batch = std::make_shared<DoneBatch>(to_output);
  for (const auto& item : live) {
    item->render_seconds = seconds;
    dispatch(item, batch);
  }
}

void Worker::dispatch(const std::shared_ptr<WorkItem>& item, const std::shared_ptr<DoneBatch>& batch) {
  if (item->run.canceled) {
    if (item->cancel_reason.load() == CancelReason::shutdown) {
      hand_off(item);
    } else {
      settle_canceled(item);
    }
    return;
  }
  item->phase = Phase::output;
  const auto b = batch ? batch : std::make_shared<DoneBatch>(1);
  encode_->submit([this, item, b] { output(item, b); }, item->run.image.data.size());
}

}  // namespace fractal::scheduler
