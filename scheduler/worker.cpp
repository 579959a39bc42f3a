// The Worker wires its stages together and runs their threads.
#include "scheduler/worker.h"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <thread>

#include "runtime/backoff.h"
#include "scheduler/claim_keeper.h"
#include "scheduler/intake.h"
#include "runtime/connection_options.h"
#include "runtime/logging.h"
#include "scheduler/output_stage.h"
#include "scheduler/progress_reporter.h"
#include "scheduler/reconciler.h"
#include "scheduler/render_stage.h"
#include "storage/migrations.h"

namespace fractal::scheduler {

Worker::Worker(WorkerOptions options) : ctx_(std::move(options)) {}

Worker::~Worker() { stop(); }

std::string Worker::backend() const { return started_.load() ? ctx_.backend : std::string(); }

TileCounters Worker::tile_counters() const { return started_.load() && tiles_ ? tiles_->counters() : TileCounters{}; }

void Worker::stop() noexcept { ctx_.request_stop(); }

void Worker::run() {
  if (running_.exchange(true)) throw std::logic_error("Worker::run: a worker runs once");
  const WorkerOptions& o = ctx_.options;
  std::shared_ptr<Renderer> renderer =
      o.renderer ? o.renderer : std::shared_ptr<Renderer>(make_renderer(o.backend, {.threads = o.threads}));
  ctx_.backend = renderer->name();
  spdlog::info(
      "event=worker_start worker={} backend={} stream={} group={} batch={} block_ms={} claim_timeout_ms={} "
      "max_deliveries={} reconcile_interval_ms={} encode_threads={} png_compression={} data_dir={} health_file={} "
      "redis={}",
      runtime::log_value(o.name), runtime::log_value(ctx_.backend), runtime::log_value(o.queue.stream),
      runtime::log_value(o.queue.group), o.batch, o.block.count(), o.claim_timeout.count(), o.max_deliveries,
      o.reconcile_interval.count(), o.encode_threads, o.png_compression,
      runtime::log_value(ctx_.store.root().string()), runtime::log_value(o.health_file.string()),
      runtime::log_value(runtime::describe(o.redis)));

  migrate_schema();
  if (ctx_.stopping()) {  // stopped before the database was reachable: nothing was taken
    spdlog::info("event=worker_stop worker={} reason=stopped_before_start", runtime::log_value(o.name));
    return;
  }
  OutputStage output(ctx_, o.encode_threads);
  RenderStage render(ctx_, renderer, output);
  Intake intake(ctx_);
  ProgressReporter progress(ctx_);
  ClaimKeeper keeper(ctx_);
  Reconciler reconciler(ctx_);

  std::thread tile_thread;
  if (o.tiles) {
    // A renderer of its own: a tile never waits for the task render in progress.
    std::shared_ptr<Renderer> tile_renderer =
        o.tile_renderer ? o.tile_renderer
                        : std::shared_ptr<Renderer>(make_renderer(o.backend, {.threads = o.threads}));
    tiles_ = std::make_unique<TileLane>(o, std::move(tile_renderer));
    tile_thread = std::thread([this] { tiles_->run(ctx_.stopping_flag()); });
  }
  std::thread progress_thread([&] { progress.run(); });
  std::thread keeper_thread([&] { keeper.run(); });
  std::thread reconciler_thread([&] { reconciler.run(); });
  started_ = true;

  std::exception_ptr failure;
  try {
    main_loop(intake, render, output);
  } catch (...) {
    failure = std::current_exception();  // a bug: still shut the threads down cleanly
    spdlog::critical("event=worker_error worker={}", runtime::log_value(o.name));
  }
  stop();
  if (tile_thread.joinable()) tile_thread.join();
  output.finish();  // the output stage drains; keep-alive still runs meanwhile
  ctx_.stop_background();
  progress_thread.join();
  keeper_thread.join();
  reconciler_thread.join();
  ctx_.best_effort("worker_stopped", [&] { ctx_.metrics.worker_stopped(o.name); });
  const WorkerCounters c = counters();
  spdlog::info("event=worker_stop worker={} rendered={} failed={} canceled={} skipped={} handed_off={}",
               runtime::log_value(o.name), c.tasks_rendered, c.tasks_failed, c.tasks_canceled, c.tasks_skipped, c.handed_off);
  if (failure) std::rethrow_exception(failure);
}

void Worker::migrate_schema() {
  runtime::Backoff backoff;
  bool warned = false;
  while (!ctx_.stopping()) {
    // Waiting for Postgres is not a hang: alive before the claim keeper starts.
    ctx_.beat();
    ctx_.publish_liveness(nullptr);
    try {
      const auto report = storage::migrate(ctx_.pool);
      spdlog::info("event=schema_ready version={} applied={}", report.to_version, report.applied.size());
      return;
    } catch (const std::exception& e) {
      if (!warned) spdlog::warn("event=postgres_unavailable op=migrate error={}", runtime::log_value(e.what()));
      warned = true;
      ctx_.pause(backoff.next());
    }
  }
}

void Worker::main_loop(Intake& intake, RenderStage& render, OutputStage& output) {
  intake.recover_own_pending();
  while (!ctx_.stopping()) {
    output.wait_below(ctx_.options.max_pending_encode_bytes, [this] { return ctx_.stopping(); });
    if (ctx_.stopping()) break;
    ctx_.beat();
    const auto items = intake.next();
    if (!items.empty()) render.render(items);
  }
  intake.log_left_pending();
}

}  // namespace fractal::scheduler
