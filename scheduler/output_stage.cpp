#include "scheduler/output_stage.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "kernels/image/image_writer.h"
#include "scheduler/deep_figures.h"
#include "runtime/logging.h"

namespace fractal::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ms_between(storage::Timestamp from, storage::Timestamp to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

void remove_file(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::remove(p, ec);
}

void log_deep(const WorkItem& item) {
  const deep::DeepStats& d = item.run.deep;
  spdlog::info(
      "event=deep_render task={} reference_length={} references={} orbit_cache_hits={} orbit_ms={:.1f} "
      "pixel_ms={:.1f} bla_skip_ratio={:.4f} rebases={} exhausted_left={} runner={}",
      item.task_id, d.reference_length, d.references, d.orbit_cache_hits, d.orbit_seconds * 1000,
      d.pixel_seconds * 1000, deep_bla_skip_ratio(d), d.rebases, d.exhausted_left, d.runner);
}

}  // namespace

OutputStage::OutputStage(WorkerContext& ctx, int threads) : ctx_(ctx), pool_(threads) {}

OutputStage::~OutputStage() { pool_.finish(); }

void OutputStage::wait_below(std::uint64_t limit, const std::function<bool()>& give_up) {
  pool_.wait_below(limit, give_up);
}

void OutputStage::finish() { pool_.finish(); }

void OutputStage::submit(const std::vector<std::shared_ptr<WorkItem>>& rendered) {
  if (rendered.empty()) return;
  const auto group = std::make_shared<Group>(rendered.size());
  for (const auto& item : rendered) {
    item->phase = Phase::output;
    pool_.submit([this, item, group] { encode(item, group); }, item->run.image.data.size());
  }
}

void OutputStage::encode(const std::shared_ptr<WorkItem>& item, const std::shared_ptr<Group>& group) {
  std::optional<Encoded> encoded;
  try {
    const std::string extension(file_extension(item->spec.format));
    const std::filesystem::path temp = ctx_.store.temp_path_for(item->task_id, extension);
    const auto t0 = Clock::now();
    WriteOptions write_options;
    write_options.png_compression = ctx_.options.png_compression;
    write_options.atomic = false;  // a private temp name; settle() renames it into place
    // A write the store refused (volume missing, read-only, full) is an
    // outage like Postgres or Redis being down: wait for it with the task
    // kept, never fail the task for it. Any other failed write fails the task.
    // The probe re-creates a lost .partial directory, so a write that failed
    // while the store was fine (or just came back) gets one more try.
    const auto written = ctx_.retrying("write_image", item->task_id, [&] {
      WriteResult w;
      for (int attempt = 0; attempt < 2; ++attempt) {
        w = write_image(item->run.image, item->spec.format, temp.string(), write_options);
        if (w.ok) break;
        remove_file(temp);
        if (auto problem = ctx_.store.write_problem())
          throw storage::StorageUnavailable("image store", *problem + " (" + w.error + ")");
      }
      return w;
    });
    const auto encode_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    if (!written) {  // stopping past the drain deadline while the store is unwritable
      spdlog::warn("event=task_left_pending task={} entry={} reason=image_store_unavailable", item->task_id,
                   item->entry.id);
      finish_items({item}, false);
    } else if (written->ok) {
      encoded = Encoded{item, temp, extension, written->bytes, encode_ms};
    } else {
      fail(item, "could not write the image: " + written->error);
    }
  } catch (const std::exception& e) {
    // Not an outage: leave the entry pending; it is taken over after the
    // claim timeout and dead-lettered if this keeps happening.
    spdlog::error("event=output_failed task={} entry={} error={} action=left_pending", item->task_id, item->entry.id,
                  runtime::log_value(e.what()));
    finish_items({item}, false);
  }
  ctx_.beat();
  arrive(group, std::move(encoded));
}

void OutputStage::arrive(const std::shared_ptr<Group>& group, std::optional<Encoded> encoded) {
  std::vector<Encoded> ready;
  {
    std::lock_guard lock(group->mutex);
    if (encoded) group->encoded.push_back(std::move(*encoded));
    if (group->remaining > 0) --group->remaining;
    if (group->remaining > 0) return;
    ready.swap(group->encoded);
  }
  if (!ready.empty()) settle(std::move(ready));
}

void OutputStage::settle(std::vector<Encoded> encoded) {
  std::vector<std::shared_ptr<WorkItem>> all;
  std::vector<std::string> ids;
  for (const auto& e : encoded) {
    all.push_back(e.item);
    ids.push_back(e.item->task_id);
  }
  const std::string& first = ids.front();
  auto leave_pending = [&](const std::string& why) {
    // The files are temp files: a redelivery renders and writes them again.
    for (const auto& e : encoded) {
      remove_file(e.temp);
      spdlog::error("event=output_failed task={} entry={} error={} action=left_pending", e.item->task_id,
                    e.item->entry.id, runtime::log_value(why));
    }
    finish_items(all, false);
  };

  // 1. Still wanted? Deleted or canceled meanwhile, or finished by a worker
  // that took the claim over: then no file and no second count.
  std::optional<std::vector<std::optional<storage::TaskRecord>>> records;
  try {
    records = ctx_.retrying("get_tasks", first, [&] { return ctx_.repo.get_many_by_id(ids); });
  } catch (const std::exception& e) {
    return leave_pending(e.what());
  }
  if (!records) {  // stopping past the drain deadline while storage is down
    for (const auto& e : encoded) remove_file(e.temp);
    return finish_items(all, false);
  }
  std::vector<std::shared_ptr<WorkItem>> dropped;
  std::vector<Encoded> kept;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    Encoded& e = encoded[i];
    const auto& record = (*records)[i];
    if (!record || record->status != storage::TaskStatus::running) {
      remove_file(e.temp);
      ++ctx_.counters.tasks_skipped;
      spdlog::info("event=task_dropped task={} reason={}", e.item->task_id,
                   record ? storage::to_string(record->status) : std::string_view("deleted"));
      dropped.push_back(e.item);
    } else {
      kept.push_back(std::move(e));
    }
  }
  finish_items(dropped, true);
  if (kept.empty()) return;
  std::vector<std::shared_ptr<WorkItem>> kept_items;
  for (const auto& k : kept) kept_items.push_back(k.item);

  // 2. Into place; the directory is synced once for the group.
  std::vector<std::filesystem::path> paths;
  try {
    for (const Encoded& k : kept) paths.push_back(ctx_.store.commit(k.temp, k.item->task_id, k.extension, false));
    ctx_.store.sync();
  } catch (const std::exception& e) {
    for (const auto& p : paths) remove_file(p);
    for (const auto& k : kept) remove_file(k.temp);
    spdlog::error("event=output_failed tasks={} error={} action=left_pending", kept.size(),
                  runtime::log_value(e.what()));
    return finish_items(kept_items, false);
  }

  // 3. Done, in one transaction for the group.
  std::vector<storage::DoneRequest> requests;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const WorkItem& item = *kept[i].item;
    storage::RenderOutcome outcome;
    outcome.backend = ctx_.backend;
    outcome.precision_used = std::string(to_string(item.run.scalar));
    outcome.iterations = static_cast<std::int64_t>(item.run.iterations);
    outcome.render_ms = std::llround(item.render_seconds * 1000.0);
    outcome.file_path = paths[i].filename().string();  // a name under the image store
    outcome.file_size = static_cast<std::int64_t>(kept[i].bytes);
    if (item.run.scalar == Scalar::deep) outcome.deep = deep_figures_json(item.run.deep);
    requests.push_back({item.task_id, std::move(outcome)});
  }
  std::optional<std::vector<bool>> done;
  try {
    done = ctx_.retrying("mark_done", kept.front().item->task_id, [&] { return ctx_.repo.mark_done_many(requests); });
  } catch (const std::exception& ex) {
    // Not an outage: leave the entries pending; the files stay, a redelivery
    // renders and rewrites them.
    for (const auto& k : kept)
      spdlog::error("event=output_failed task={} entry={} error={} action=left_pending", k.item->task_id,
                    k.item->entry.id, runtime::log_value(ex.what()));
    return finish_items(kept_items, false);
  }
  // Unknown outcome while stopping: keep the files (the tasks may be done);
  // the redeliveries find them done, or render and rewrite them.
  if (!done) return finish_items(kept_items, false);

  std::vector<storage::MetricsStore::RenderSample> samples;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const Encoded& k = kept[i];
    const WorkItem& item = *k.item;
    if (!(*done)[i]) {
      std::error_code ec;
      std::filesystem::remove(paths[i], ec);
      ++ctx_.counters.tasks_skipped;
      spdlog::info("event=task_dropped task={} reason=deleted_while_writing file_removed={}", item.task_id, !ec);
      continue;
    }
    const double queue_wait = std::chrono::duration<double>(item.started_at - item.created_at).count();
    samples.push_back({std::max(queue_wait, 0.0), item.render_seconds, requests[i].outcome.iterations});
    ++ctx_.counters.tasks_rendered;
    spdlog::info(
        "event=task_done task={} entry={} backend={} precision={} iterations={} render_ms={} encode_ms={} bytes={} "
        "file={} queue_wait_ms={} claim_lost={} batch={}",
        item.task_id, item.entry.id, runtime::log_value(ctx_.backend), requests[i].outcome.precision_used,
        requests[i].outcome.iterations, requests[i].outcome.render_ms, k.encode_ms, requests[i].outcome.file_size,
        requests[i].outcome.file_path, ms_between(item.created_at, item.started_at), item.claim_lost.load(),
        kept.size());
    if (item.run.scalar == Scalar::deep) log_deep(item);
  }
  // 4. One pipelined metrics update, one XACK call, one lease release.
  ctx_.best_effort("record_renders", [&] { ctx_.metrics.record_renders(samples); });
  finish_items(kept_items, true);
  ctx_.beat();
}

void OutputStage::settle_unfinished(const std::shared_ptr<WorkItem>& item) {
  if (item->cancel_reason.load() == CancelReason::shutdown) return hand_off(item);
  ++ctx_.counters.tasks_canceled;
  spdlog::info("event=render_canceled task={} entry={} reason=task_gone", item->task_id, item->entry.id);
  finish_items({item}, true);
}

void OutputStage::hand_off(const std::shared_ptr<WorkItem>& item) {
  // A fresh entry for another worker now, instead of waiting for the claim
  // timeout; the new owner takes the "running" task over (the lease is released).
  try {
    ctx_.queue.enqueue(item->task_id);
    ctx_.queue.ack(item->entry.id);
    ++ctx_.counters.handed_off;
    spdlog::info("event=task_handed_back task={} entry={} reason=shutdown", item->task_id, item->entry.id);
  } catch (const std::exception& e) {
    spdlog::warn("event=task_left_pending task={} entry={} reason=shutdown error={}", item->task_id, item->entry.id,
                 runtime::log_value(e.what()));
  }
  finish_items({item}, false);
}

void OutputStage::fail(const std::shared_ptr<WorkItem>& item, const std::string& error) {
  const auto failed =
      ctx_.retrying("mark_failed", item->task_id, [&] { return ctx_.repo.mark_failed(item->task_id, error); });
  if (!failed) return finish_items({item}, false);
  ++ctx_.counters.tasks_failed;
  ctx_.best_effort("record_failure", [&] { ctx_.metrics.record_failure(); });
  spdlog::warn("event=task_failed task={} entry={} error={}", item->task_id, item->entry.id, runtime::log_value(error));
  finish_items({item}, true);
}

void OutputStage::finish_items(const std::vector<std::shared_ptr<WorkItem>>& items, bool acknowledge) {
  if (items.empty()) return;
  std::vector<std::string> tasks;
  for (const auto& item : items) tasks.push_back(item->task_id);
  if (acknowledge) {
    std::vector<std::string> entries;
    for (const auto& item : items) entries.push_back(item->entry.id);
    const auto acked = ctx_.retrying("ack", tasks.front(), [&] { return ctx_.queue.ack_many(entries); });
    // false: the entry was no longer ours (taken over, or Redis lost it): harmless.
    if (acked) {
      for (std::size_t i = 0; i < acked->size(); ++i)
        if (!(*acked)[i]) spdlog::debug("event=ack_not_pending task={} entry={}", tasks[i], entries[i]);
    }
  }
  ctx_.release_leases(tasks);
  for (const auto& item : items) ctx_.in_flight.remove(*item);
}

}  // namespace fractal::scheduler
