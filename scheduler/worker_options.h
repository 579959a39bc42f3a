// What a Worker needs: where Postgres, Redis and the image store are, its
// consumer name, the backend, and its timings. fractal-worker fills it from
// flags and environment (cli_options.h); tests fill it directly.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "kernels/renderer.h"
#include "storage/redis.h"
#include "storage/tile_queue.h"

namespace fractal::scheduler {

using Millis = std::chrono::milliseconds;

struct WorkerOptions {
  std::string pg_conninfo;            // libpq conninfo or postgresql:// URI; empty: libpq defaults (PGHOST, ...)
  storage::RedisOptions redis;
  storage::QueueOptions queue;        // stream, group, dead-letter stream
  std::filesystem::path data_dir;     // the image store
  std::string name;                   // consumer name; empty: <hostname>-<pid>

  BackendKind backend = BackendKind::automatic;
  int threads = 0;                    // CPU threads; 0 = all cores
  std::shared_ptr<Renderer> renderer; // used instead of make_renderer when set (tests)

  std::size_t batch = 32;             // XREADGROUP COUNT
  Millis block{1000};                 // XREADGROUP BLOCK
  Millis claim_timeout{30000};        // idle time after which another worker takes an entry over
  int max_deliveries = 3;             // a task delivered more often is failed and dead-lettered
  Millis reconcile_interval{10000};   // how often Postgres is compared with the stream
  Millis reconcile_min_age{5000};     // younger tasks may not be XADDed yet: never re-enqueued
  std::chrono::seconds idempotency_key_max_age{24 * 3600};  // the reconciler forgets older Idempotency-Keys
  int encode_threads = 2;
  int png_compression = 1;
  Millis drain_timeout{20000};        // after stop(): renders still running then are canceled and handed back

  Millis progress_interval{250};      // progress to Postgres, deletion checks
  Millis heartbeat_interval{3000};    // fractal:workers, for GET /stats; the liveness file
  std::filesystem::path health_file;  // liveness file for `fractal-worker --check` (liveness.h); empty: none

  // Grouping: one render call gets at most this many worst-case iterations
  // (samples x max_iter; 0: derived from the backend) and this much memory.
  double group_cost_budget = 0;
  std::uint64_t group_memory_budget = std::uint64_t{2} << 30;
  // Rendered images waiting for the encoder; the next render waits above this.
  std::uint64_t max_pending_encode_bytes = std::uint64_t{1} << 30;

  // The interactive tile lane (scheduler/tile_lane.h): a thread of its own with
  // its own renderer, so tiles never wait behind task renders.
  bool tiles = true;
  storage::TileQueueOptions tile_queue;
  std::size_t tile_batch = 64;          // tiles taken (and rendered in one call) at most at once
  Millis tile_gather{2};                // after the first tile, wait this long for more to join its batch
  std::shared_ptr<Renderer> tile_renderer;  // used instead of a second make_renderer when set (tests)

  // Derived timings.
  [[nodiscard]] Millis touch_interval() const;      // claim keep-alive and lease refresh: claim_timeout / 3
  [[nodiscard]] Millis autoclaim_interval() const;  // how often idle entries are looked for
  [[nodiscard]] Millis reconcile_grace() const;     // how long a task must be missing before it is re-enqueued
  [[nodiscard]] Millis lease_ttl() const { return claim_timeout; }

  // Empty when usable, else what is wrong (for the command line and tests).
  [[nodiscard]] std::string validate() const;
};

// <hostname>-<pid>
[[nodiscard]] std::string default_worker_name();

}  // namespace fractal::scheduler
