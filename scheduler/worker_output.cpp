// The end of a task's trip through the worker: write the image, record the
// outcome, acknowledge the entry, or give the task back.
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>

#include "kernels/image/image_writer.h"
#include "scheduler/backoff.h"
#include "scheduler/deep_figures.h"
#include "scheduler/log_text.h"
#include "scheduler/worker.h"

namespace fractal::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ms_between(storage::Timestamp from, storage::Timestamp to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

// Runs f until Postgres/Redis answer. Outages are waited out; only a stopping
// worker past its drain deadline gives up (nullopt): the entry then stays
// pending and is delivered again, which is safe because every step is
// idempotent by task id.
template <class F>
auto Worker::retrying(const char* op, const std::string& task_id, F&& f) -> std::optional<decltype(f())> {
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
  bool warned = false;
  for (;;) {
    try {
      auto result = f();
      if (warned) spdlog::info("event=storage_recovered op={} task={}", op, task_id);
      return result;
    } catch (const storage::StorageUnavailable& e) {
      if (drain_expired() || background_stop_.load()) {
        spdlog::error("event=storage_gave_up op={} task={} error={}", op, task_id, log_value(e.what()));
        return std::nullopt;
      }
      if (!warned) {
        spdlog::warn("event=storage_unavailable service={} op={} task={} error={} action=retry", e.service(), op,
                     task_id, log_value(e.what()));
      }
      warned = true;
      wait_background(backoff.next());
    }
  }
}

void Worker::output(const std::shared_ptr<WorkItem>& item, const std::shared_ptr<DoneBatch>& batch) {
  const std::string& id = item->task_id;
  std::optional<DoneEntry> entry;
  try {
    entry = [&]() -> std::optional<DoneEntry> {
      // Still wanted? Deleted or canceled meanwhile, or finished by a worker that
      // took the claim over: then no file and no second count.
      const auto record = retrying("get_task", id, [&] { return repo_.get_by_id(id); });
      if (!record) {
        finish(item, false);
        return std::nullopt;
      }
      if (!*record || (*record)->status != storage::TaskStatus::running) {
        ++counters_.tasks_skipped;
        spdlog::info("event=task_dropped task={} reason={}", id,
                     *record ? storage::to_string((*record)->status) : std::string_view("deleted"));
        finish(item, true);
        return std::nullopt;
      }

      const std::string extension(file_extension(item->spec.format));
      const std::filesystem::path temp = store_.temp_path_for(id, extension);
      const auto t0 = Clock::now();
      WriteOptions write_options;
      write_options.png_compression = options_.png_compression;
      const WriteResult written = write_image(item->run.image, item->spec.format, temp.string(), write_options);
      const auto encode_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
      if (!written.ok) {
        std::error_code ec;
        std::filesystem::remove(temp, ec);
        fail(item, "could not write the image: " + written.error);
        return std::nullopt;
      }
      // Encoding takes a while: look again, so a worker that lost its claim
      // neither replaces the file of the render that finished first nor counts twice.
      const auto again = retrying("get_task", id, [&] { return repo_.get_by_id(id); });
      if (!again || !*again || (*again)->status != storage::TaskStatus::running) {
        std::error_code ec;
        std::filesystem::remove(temp, ec);
        if (!again) {
          finish(item, false);
          return std::nullopt;
        }
        ++counters_.tasks_skipped;
        spdlog::info("event=task_dropped task={} reason={}", id,
                     *again ? storage::to_string((*again)->status) : std::string_view("deleted"));
        finish(item, true);
        return std::nullopt;
      }
      const std::filesystem::path path = store_.commit(temp, id, extension);

      storage::RenderOutcome outcome;
      outcome.backend = backend_;
      outcome.precision_used = std::string(to_string(item->run.scalar));
      outcome.iterations = static_cast<std::int64_t>(item->run.iterations);
      outcome.render_ms = std::llround(item->render_seconds * 1000.0);
      outcome.file_path = path.filename().string();  // a name under the image store
      outcome.file_size = static_cast<std::int64_t>(written.bytes);
      if (item->run.scalar == Scalar::deep) outcome.deep = deep_figures_json(item->run.deep);
      // Written (file and directory synced): recorded done together with the
      // rest of its render group, then acknowledged (complete).
      return DoneEntry{item, std::move(outcome), path, encode_ms};
    }();
  } catch (const std::exception& e) {
    // Not an outage (those are retried): leave the entry pending; it is taken
    // over after the claim timeout and dead-lettered if this keeps happening.
    spdlog::error("event=output_failed task={} entry={} error={} action=left_pending", id, item->entry.id,
                  log_value(e.what()));
    finish(item, false);
  }
  arrive(batch, std::move(entry));
}

void Worker::arrive(const std::shared_ptr<DoneBatch>& batch, std::optional<DoneEntry> entry) {
  std::vector<DoneEntry> ready;
  {
    std::lock_guard lock(batch->mutex);
    if (entry) batch->entries.push_back(std::move(*entry));
    if (batch->remaining > 0) --batch->remaining;
    if (batch->remaining > 0) return;
    ready.swap(batch->entries);
  }
  if (!ready.empty()) complete(std::move(ready));
}

void Worker::complete(std::vector<DoneEntry> entries) {
  // File written before done, done before XACK: one transaction for the batch.
  std::vector<storage::DoneRequest> requests;
  requests.reserve(entries.size());
  for (const auto& e : entries) requests.push_back({e.item->task_id, e.outcome});
  std::optional<std::vector<bool>> done;
  try {
    done = retrying("mark_done", entries.front().item->task_id, [&] { return repo_.mark_done_many(requests); });
  } catch (const std::exception& ex) {
    // Not an outage: leave the entries pending (see output()); the files stay,
    // a redelivery renders and rewrites them.
    for (const auto& e : entries) {
      spdlog::error("event=output_failed task={} entry={} error={} action=left_pending", e.item->task_id,
                    e.item->entry.id, log_value(ex.what()));
      finish(e.item, false);
    }
    return;
  }
  // Unknown outcome while stopping: keep the files (the tasks may be done);
  // the redeliveries find them done, or render and rewrite them.
  if (!done) {
    for (const auto& e : entries) finish(e.item, false);
    return;
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const DoneEntry& e = entries[i];
    const std::shared_ptr<WorkItem>& item = e.item;
    const std::string& id = item->task_id;
    try {
      if (!(*done)[i]) {
        std::error_code ec;
        std::filesystem::remove(e.path, ec);
        ++counters_.tasks_skipped;
        spdlog::info("event=task_dropped task={} reason=deleted_while_writing file_removed={}", id, !ec);
        finish(item, true);
        continue;
      }
      const double queue_wait = std::chrono::duration<double>(item->started_at - item->created_at).count();
      try {
        metrics_.record_render(std::max(queue_wait, 0.0), item->render_seconds, e.outcome.iterations);
      } catch (const std::exception& ex) {
        spdlog::warn("event=metrics_failed op=record_render task={} error={}", id, log_value(ex.what()));
      }
      ++counters_.tasks_rendered;
      spdlog::info(
          "event=task_done task={} entry={} backend={} precision={} iterations={} render_ms={} encode_ms={} bytes={} "
          "file={} queue_wait_ms={} claim_lost={} batch={}",
          id, item->entry.id, log_value(backend_), e.outcome.precision_used, e.outcome.iterations,
          e.outcome.render_ms, e.encode_ms, e.outcome.file_size, e.outcome.file_path,
          ms_between(item->created_at, item->started_at), item->claim_lost.load(), entries.size());
      if (item->run.scalar == Scalar::deep) {
        const deep::DeepStats& d = item->run.deep;
        spdlog::info(
            "event=deep_render task={} reference_length={} references={} orbit_cache_hits={} orbit_ms={:.1f} "
            "pixel_ms={:.1f} bla_skip_ratio={:.4f} rebases={} exhausted_left={}",
            id, d.reference_length, d.references, d.orbit_cache_hits, d.orbit_seconds * 1000, d.pixel_seconds * 1000,
            deep_bla_skip_ratio(d), d.rebases,
            d.exhausted_left);
      }
      finish(item, true);
    } catch (const std::exception& ex) {
      spdlog::error("event=output_failed task={} entry={} error={} action=left_pending", id, item->entry.id,
                    log_value(ex.what()));
      finish(item, false);
    }
  }
}

void Worker::settle_canceled(const std::shared_ptr<WorkItem>& item) {
  ++counters_.tasks_canceled;
  spdlog::info("event=render_canceled task={} entry={} reason=task_gone", item->task_id, item->entry.id);
  finish(item, true);
}

void Worker::hand_off(const std::shared_ptr<WorkItem>& item) {
  // A fresh entry for another worker now, instead of waiting for the claim
  // timeout; the new owner takes the "running" task over (the lease is released).
  try {
    queue_.enqueue(item->task_id);
    queue_.ack(item->entry.id);
    ++counters_.handed_off;
    spdlog::info("event=task_handed_back task={} entry={} reason=shutdown", item->task_id, item->entry.id);
  } catch (const std::exception& e) {
    spdlog::warn("event=task_left_pending task={} entry={} reason=shutdown error={}", item->task_id, item->entry.id,
                 log_value(e.what()));
  }
  finish(item, false);
}

void Worker::fail(const std::shared_ptr<WorkItem>& item, const std::string& error) {
  const auto failed = retrying("mark_failed", item->task_id, [&] { return repo_.mark_failed(item->task_id, error); });
  if (!failed) return finish(item, false);
  ++counters_.tasks_failed;
  try {
    metrics_.record_failure();
  } catch (const std::exception& e) {
    spdlog::warn("event=metrics_failed op=record_failure error={}", log_value(e.what()));
  }
  spdlog::warn("event=task_failed task={} entry={} error={}", item->task_id, item->entry.id, log_value(error));
  finish(item, true);
}

void Worker::finish(const std::shared_ptr<WorkItem>& item, bool acknowledge) {
  if (acknowledge) {
    const auto acked = retrying("ack", item->task_id, [&] { return queue_.ack(item->entry.id); });
    // false: the entry was no longer ours (taken over, or Redis lost it): harmless.
    if (acked && !*acked) spdlog::debug("event=ack_not_pending task={} entry={}", item->task_id, item->entry.id);
  }
  release_lease(item->task_id);
  in_flight_.remove(*item);
}

void Worker::release_lease(const std::string& task_id) {
  try {
    leases_.release(task_id, options_.name);
  } catch (const std::exception& e) {
    spdlog::debug("event=lease_release_failed task={} error={}", task_id, log_value(e.what()));  // it expires
  }
}

}  // namespace fractal::scheduler
