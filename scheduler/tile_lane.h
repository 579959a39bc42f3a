// The interactive lane of a worker: a thread that blocks on the tiles stream
// (storage::TileQueue), takes every waiting tile of every user at once, drops
// those whose requester has given up (deadline passed), renders the rest in ONE
// render_tasks call (one Renderer::render over all tiles: one launch on a GPU),
// encodes them to PNG on its own encode threads and pushes each PNG onto the
// requester's reply list. It has its own Renderer, so a tile never waits for a
// task render (on the CPU the two share the cores while both run).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/renderer.h"
#include "scheduler/encode_pool.h"
#include "scheduler/worker_options.h"
#include "storage/tile_queue.h"

namespace fractal::scheduler {

struct TileCounters {
  std::int64_t render_calls = 0;   // render_tasks calls (batches)
  std::int64_t tiles_rendered = 0; // distinct tiles rendered and answered
  std::int64_t tiles_dropped = 0;  // deadline passed before the render started
  std::int64_t tiles_failed = 0;   // bad spec, render or encode error (answered with an error)
  std::int64_t largest_batch = 0;
};

class TileLane {
 public:
  TileLane(const WorkerOptions& options, std::shared_ptr<Renderer> renderer);
  ~TileLane();
  TileLane(const TileLane&) = delete;
  TileLane& operator=(const TileLane&) = delete;

  // Runs until `stop` is true (checked at least every 250 ms); finishes the
  // batch in hand and its encodes first.
  void run(const std::atomic<bool>& stop);
  [[nodiscard]] TileCounters counters() const;

 private:
  void handle(std::vector<storage::TileRequest> requests);

  const WorkerOptions& options_;
  std::shared_ptr<Renderer> renderer_;
  storage::TileQueue queue_;
  EncodePool encode_;
  std::atomic<std::int64_t> render_calls_{0}, rendered_{0}, dropped_{0}, failed_{0}, largest_{0};
};

}  // namespace fractal::scheduler
