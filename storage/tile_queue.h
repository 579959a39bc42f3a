// The interactive tile lane in Redis: the tiles stream the servers write and the
// workers read, the per-request reply lists, single-flight markers, the shared
// byte-bounded LRU tile cache, per-user in-flight counters and the workers'
// tile figures. Key layout (prefix "fractal:tiles" by default):
//   <prefix>                     stream; one entry per tile render {id, key, spec, reply, deadline}
//                                read by group "tile-renderers"; entries are deleted as soon as read
//   <prefix>:reply:<request id>  list; the worker LPUSHes "P"<png> or "E"<message>, expires in seconds
//   <prefix>:flight:<key>        string; held (SET NX PX) by the request that renders <key>
//   <prefix>:cache:<key>         string; the PNG of <key>
//   <prefix>:lru                 sorted set <key> -> last use (unix ms)
//   <prefix>:bytes               integer; sum of the cached PNG sizes
//   <prefix>:user:<user id>      integer; that user's tile requests waiting for a render
//   <prefix>:metrics             hash; worker-side counters and histograms
// Every multi-key step is one Lua script, so replicas and workers never see a
// half-updated cache.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/metrics_store.h"
#include "storage/redis.h"
#include "storage/redis_keys.h"

namespace fractal::storage {

struct TileQueueOptions {
  std::string prefix{keys::kTilePrefix};
  std::string group{keys::kTileGroup};
};

// One tile render as it travels through the stream.
struct TileRequest {
  std::string id;         // request id (also names the reply list)
  std::string key;        // cache key (hex digest of the canonical parameters)
  std::string spec;       // the TaskSpec JSON of the tile's view (to_json form)
  std::int64_t deadline_ms = 0;  // unix ms after which nobody waits for it
};

enum class TileLookup { hit, leader, follower };

struct TileLookupResult {
  TileLookup kind = TileLookup::follower;
  std::string png;  // set for a hit
};

struct TileCacheStats {
  std::int64_t bytes = 0;
  std::int64_t entries = 0;
  std::int64_t queue_depth = 0;
};

struct TileWorkerStats {
  std::int64_t rendered = 0, dropped = 0, failed = 0, batches = 0;
  HistogramSnapshot batch_size, render_seconds;
};

const std::vector<double>& tile_batch_buckets();
const std::vector<double>& tile_render_buckets();

// Thread-safe. Uses a small pool of connections, one per concurrent caller, so
// a request blocked in BLPOP never holds up the others.
class TileQueue {
 public:
  explicit TileQueue(RedisOptions redis, TileQueueOptions options = {});
  ~TileQueue();
  TileQueue(const TileQueue&) = delete;
  TileQueue& operator=(const TileQueue&) = delete;

  // ---- server side
  // A cache hit (and the entry's last use moved to now), else whether this
  // caller now holds the single-flight marker of `key` (leader, for flight_ttl)
  // or someone else does (follower: poll again).
  TileLookupResult lookup(std::string_view key, std::string_view token, std::chrono::milliseconds flight_ttl);
  // XADD to the tiles stream.
  void submit(const TileRequest& request);
  // BLPOP on the request's reply list for at most `timeout`; nullopt on timeout.
  std::optional<std::string> wait_reply(std::string_view request_id, std::chrono::milliseconds timeout);
  // Stores `png` in the cache (evicting least recently used entries until the
  // cache holds at most max_bytes; an entry larger than max_bytes is not kept)
  // and releases the flight marker if `token` still holds it. Empty png: only release.
  void finish_flight(std::string_view key, std::string_view token, std::string_view png, std::int64_t max_bytes);
  // The user's requests waiting for a render: +1 (returns the new count) / -1.
  std::int64_t user_begin(std::string_view user);
  void user_end(std::string_view user);
  TileCacheStats stats();
  TileWorkerStats worker_stats();

  // ---- worker side
  // XREADGROUP COUNT count BLOCK block (block 0: do not wait); the entries are acknowledged and
  // deleted at once (a tile is never redelivered: its requester gives up after
  // its deadline and may ask again).
  std::vector<TileRequest> take(std::string_view consumer, std::size_t count, std::chrono::milliseconds block);
  // LPUSH the answer onto the reply list with a short expiry.
  void reply(std::string_view request_id, std::string_view payload, std::chrono::milliseconds ttl);
  void record_batch(std::size_t tiles, double seconds, std::int64_t dropped, std::int64_t failed);

  [[nodiscard]] const TileQueueOptions& options() const noexcept { return options_; }
  [[nodiscard]] std::string cache_key(std::string_view key) const { return options_.prefix + ":cache:" + std::string(key); }

 private:
  class Lease;
  std::unique_ptr<RedisConnection> acquire();
  void release(std::unique_ptr<RedisConnection> conn);
  void ensure_group(RedisConnection& conn);

  RedisOptions redis_;
  TileQueueOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;
  bool group_ready_ = false;
};

}  // namespace fractal::storage
