// GET /tiles/{z}/{x}/{y}.png: one 256x256 tile of the zoomable pyramid
// (docs/api.md "Tiles"; the flow in docs/architecture.md).
//   cache hit (shared, byte-bounded LRU in Redis)            -> 200 X-Cache: hit
//   miss: single-flight marker per tile key; the holder XADDs the tile to the
//   tiles stream and waits on its reply list; the others poll the cache  -> 200 X-Cache: miss
//   no answer within tile_timeout                             -> 503 busy + Retry-After
// Also adds the tile figures to GET /stats.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/task_spec.h"
#include "server/router.h"
#include "server/tile_query.h"
#include "server/services.h"

namespace fractal::server {

class TilesResource {
 public:
  explicit TilesResource(Services& services) : s_(services) {}
  void setup_routes(Router& router);

 private:
  using Clock = std::chrono::steady_clock;
  Reply tile(RequestContext& ctx);
  // The blocking part of a miss (run on a waiter thread): as single-flight
  // leader submit and wait for the reply, as follower poll the cache.
  // When the client leaves (an aborted tile fetch while zooming), `left` is
  // called once: the user's in-flight count is released at once. A follower
  // stops waiting; a leader still waits for its render to cache it.
  Reply wait_for_render(const TileQuery& q, const std::string& request_id, bool leader, Clock::time_point deadline,
                        const HeaderList& headers, TileOutcome& outcome, const std::function<bool()>& client_gone,
                        const std::function<void()>& left);
  void end_user(const std::string& user) noexcept;
  static Reply png_reply(std::string png, bool hit, HeaderList headers);

  Services& s_;
};

}  // namespace fractal::server
