#include "scheduler/tile_lane.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "kernels/image/png_encode.h"
#include "kernels/render_task.h"
#include "runtime/backoff.h"
#include "runtime/logging.h"

namespace fractal::scheduler {
namespace {

using Clock = std::chrono::steady_clock;
// A reply nobody reads any more (the requester gave up) disappears after this.
constexpr std::chrono::milliseconds kReplyTtl{15000};

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TileLane::TileLane(const WorkerOptions& options, std::shared_ptr<Renderer> renderer)
    : options_(options),
      renderer_(std::move(renderer)),
      queue_(options.redis, options.tile_queue),
      encode_(std::max(1, options.encode_threads)) {}

TileLane::~TileLane() { encode_.finish(); }

TileCounters TileLane::counters() const {
  return TileCounters{render_calls_.load(), rendered_.load(), dropped_.load(), failed_.load(), largest_.load()};
}

void TileLane::run(const std::atomic<bool>& stop) {
  const auto block = std::min(options_.block, std::chrono::milliseconds(250));
  runtime::Backoff backoff;
  bool redis_down = false;
  spdlog::info("event=tile_lane_start worker={} backend={} stream={} batch={}", runtime::log_value(options_.name),
               runtime::log_value(renderer_->name()), runtime::log_value(options_.tile_queue.prefix), options_.tile_batch);
  while (!stop.load()) {
    std::vector<storage::TileRequest> requests;
    try {
      requests = queue_.take(options_.name, options_.tile_batch, block);
      // A map view asks for its tiles within a few milliseconds: let the rest of
      // the burst join this batch (one render call, one launch) before rendering.
      for (int round = 0; !requests.empty() && requests.size() < options_.tile_batch && round < 4; ++round) {
        if (options_.tile_gather.count() <= 0) break;
        std::this_thread::sleep_for(options_.tile_gather / 2);
        auto more = queue_.take(options_.name, options_.tile_batch - requests.size(), std::chrono::milliseconds(0));
        if (more.empty() && round > 0) break;
        for (auto& r : more) requests.push_back(std::move(r));
      }
      if (redis_down) spdlog::info("event=redis_recovered op=tile_read");
      redis_down = false;
      backoff.reset();
    } catch (const std::exception& e) {
      if (!redis_down) spdlog::warn("event=redis_unavailable op=tile_read error={}", runtime::log_value(e.what()));
      redis_down = true;
      const auto wait = backoff.next();
      for (auto waited = std::chrono::milliseconds(0); waited < wait && !stop.load(); waited += std::chrono::milliseconds(50))
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (requests.empty()) continue;
    try {
      handle(std::move(requests));
    } catch (const std::exception& e) {
      spdlog::error("event=tile_batch_failed worker={} error={}", runtime::log_value(options_.name), runtime::log_value(e.what()));
    }
  }
  encode_.finish();
  spdlog::info("event=tile_lane_stop worker={} rendered={} dropped={} failed={}", runtime::log_value(options_.name),
               rendered_.load(), dropped_.load(), failed_.load());
}

void TileLane::handle(std::vector<storage::TileRequest> requests) {
  // One tile per cache key: requests of the same key (possible after a
  // single-flight marker expired) share one render.
  struct Tile {
    TaskSpec spec;
    std::vector<std::string> reply_to;
  };
  std::map<std::string, std::size_t> by_key;
  std::vector<std::unique_ptr<Tile>> tiles;
  std::int64_t dropped = 0, failed = 0;
  const std::int64_t now = unix_ms();
  auto answer_error = [&](const std::string& id, const std::string& message) {
    try {
      queue_.reply(id, "E" + message, kReplyTtl);
    } catch (const std::exception& e) {
      spdlog::warn("event=tile_reply_failed request={} error={}", runtime::log_value(id), runtime::log_value(e.what()));
    }
  };
  for (auto& r : requests) {
    if (r.id.empty()) continue;
    if (r.deadline_ms > 0 && r.deadline_ms < now) {
      ++dropped;  // its requester has answered 503 already: do not render it
      continue;
    }
    if (auto it = by_key.find(r.key); it != by_key.end() && !r.key.empty()) {
      tiles[it->second]->reply_to.push_back(r.id);
      continue;
    }
    ParseResult parsed;
    try {
      parsed = parse_task_spec_text(r.spec);
    } catch (const std::exception& e) {
      parsed.error = FieldError{"invalid_parameter", "", e.what()};
    }
    if (!parsed.ok() || parsed.spec->output != OutputKind::image || parsed.spec->format != ImageFormat::png) {
      ++failed;
      answer_error(r.id, parsed.error ? parsed.error->message : "not a PNG image spec");
      continue;
    }
    by_key[r.key] = tiles.size();
    tiles.push_back(std::make_unique<Tile>(Tile{std::move(*parsed.spec), {r.id}}));
  }
  dropped_ += dropped;
  if (tiles.empty()) {
    try {
      queue_.record_batch(0, 0, dropped, failed);
    } catch (const std::exception&) {
    }
    failed_ += failed;
    return;
  }

  std::vector<std::unique_ptr<TaskRun>> runs;
  std::vector<TaskRun*> run_ptrs;
  for (auto& t : tiles) {
    runs.push_back(std::make_unique<TaskRun>(t->spec));
    run_ptrs.push_back(runs.back().get());
  }
  const auto t0 = Clock::now();
  std::string error;
  try {
    render_tasks(*renderer_, run_ptrs);  // every band of every tile: one Renderer::render per round
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "unknown render error";
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ++render_calls_;
  std::int64_t largest = largest_.load();
  while (static_cast<std::int64_t>(tiles.size()) > largest &&
         !largest_.compare_exchange_weak(largest, static_cast<std::int64_t>(tiles.size()))) {
  }
  spdlog::info("event=tile_batch worker={} tiles={} requests={} dropped={} seconds={:.3f} ok={}",
               runtime::log_value(options_.name), tiles.size(), requests.size(), dropped, seconds, error.empty());

  for (std::size_t i = 0; i < tiles.size(); ++i) {
    auto reply_to = std::make_shared<std::vector<std::string>>(std::move(tiles[i]->reply_to));
    if (!error.empty()) {
      ++failed;
      for (const auto& id : *reply_to) answer_error(id, "render failed: " + error);
      continue;
    }
    auto image = std::make_shared<ImageBuffer>(std::move(runs[i]->image));
    const std::uint64_t bytes = image->data.size();
    encode_.submit(
        [this, image, reply_to] {
          std::string why;
          const auto png = encode_png(*image, options_.png_compression, &why);
          std::string payload = png ? "P" + *png : "E" + why;
          if (png) {
            ++rendered_;
          } else {
            ++failed_;
          }
          for (const auto& id : *reply_to) {
            try {
              queue_.reply(id, payload, kReplyTtl);
            } catch (const std::exception& e) {
              spdlog::warn("event=tile_reply_failed request={} error={}", runtime::log_value(id), runtime::log_value(e.what()));
            }
          }
        },
        bytes);
  }
  failed_ += failed;
  try {
    queue_.record_batch(error.empty() ? tiles.size() : 0, seconds, dropped, failed);
  } catch (const std::exception& e) {
    spdlog::warn("event=metrics_failed op=tile_batch error={}", runtime::log_value(e.what()));
  }
}

}  // namespace fractal::scheduler
