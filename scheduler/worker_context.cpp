#include "scheduler/worker_context.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "runtime/logging.h"
#include "scheduler/liveness.h"

namespace fractal::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

WorkerOptions checked(WorkerOptions o) {
  if (o.name.empty()) o.name = default_worker_name();
  if (const std::string why = o.validate(); !why.empty()) throw std::invalid_argument(why);
  return o;
}

storage::PgPoolOptions pool_options(const WorkerOptions& o) {
  storage::PgPoolOptions p;
  p.conninfo = o.pg_conninfo;
  // intake + progress + reconciler + one per output thread, and a spare.
  p.size = static_cast<std::size_t>(o.encode_threads) + 4;
  return p;
}

std::int64_t system_ns(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

WorkerContext::WorkerContext(WorkerOptions o)
    : options(checked(std::move(o))),
      pool(pool_options(options)),
      repo(pool),
      queue(options.redis, options.queue),
      metrics(options.redis),
      store(options.data_dir),
      leases(options.redis, options.queue.stream + ":") {
  beat();
}

WorkerCounters WorkerContext::snapshot_counters() const {
  const Counters& c = counters;
  return WorkerCounters{c.render_calls.load(),   c.tasks_rendered.load(), c.tasks_failed.load(),
                        c.tasks_canceled.load(), c.tasks_skipped.load(),  c.dead_lettered.load(),
                        c.redeliveries.load(),   c.reconciled.load(),     c.handed_off.load(),
                        c.claims_lost.load()};
}

void WorkerContext::request_stop() noexcept {
  bool expected = false;
  if (stopping_.compare_exchange_strong(expected, true)) {
    drain_deadline_ns_ = (Clock::now() + options.drain_timeout).time_since_epoch().count();
    spdlog::info("event=worker_stopping worker={} in_flight={} drain_timeout_ms={}", runtime::log_value(options.name),
                 in_flight.size(), options.drain_timeout.count());
  }
  { std::lock_guard lock(wake_mutex_); }
  wake_.notify_all();
}

bool WorkerContext::drain_expired() const {
  return stopping_.load() && Clock::now().time_since_epoch().count() > drain_deadline_ns_.load();
}

void WorkerContext::stop_background() noexcept {
  background_stop_ = true;
  { std::lock_guard lock(wake_mutex_); }
  wake_.notify_all();
}

void WorkerContext::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(wake_mutex_);
  wake_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void WorkerContext::wait_background(std::chrono::milliseconds d) {
  std::unique_lock lock(wake_mutex_);
  wake_.wait_for(lock, std::max(d, std::chrono::milliseconds(1)), [this] { return background_stop_.load(); });
}

void WorkerContext::beat() noexcept { last_beat_ns_ = system_ns(std::chrono::system_clock::now()); }

std::chrono::system_clock::time_point WorkerContext::last_beat() const noexcept {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(last_beat_ns_.load())));
}

bool WorkerContext::publish_liveness(std::string* error) const {
  return options.health_file.empty() || write_liveness(options.health_file, options.name, last_beat(), error);
}

void WorkerContext::release_leases(const std::vector<std::string>& task_ids) noexcept {
  try {
    leases.release_many(task_ids, options.name);
  } catch (const std::exception& e) {
    spdlog::debug("event=lease_release_failed tasks={} error={}", task_ids.size(), runtime::log_value(e.what()));  // they expire
  }
}

void WorkerContext::log_retry(const char* op, const std::string& task_id, const storage::StorageUnavailable& e,
                              bool first) const {
  if (!first) return;
  spdlog::warn("event=storage_unavailable service={} op={} task={} error={} action=retry", e.service(), op, task_id,
               runtime::log_value(e.what()));
}

void WorkerContext::log_recovered(const char* op, const std::string& task_id) const {
  spdlog::info("event=storage_recovered op={} task={}", op, task_id);
}

void WorkerContext::log_gave_up(const char* op, const std::string& task_id,
                                const storage::StorageUnavailable& e) const {
  spdlog::error("event=storage_gave_up op={} task={} error={}", op, task_id, runtime::log_value(e.what()));
}

void WorkerContext::log_metrics_failed(const char* what, const std::exception& e) const noexcept {
  try {
    spdlog::warn("event=metrics_failed op={} error={}", what, runtime::log_value(e.what()));
  } catch (...) {
  }
}

}  // namespace fractal::scheduler
