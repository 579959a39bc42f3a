// GET /tiles/{z}/{x}/{y}.png: one 256x256 tile of the zoomable pyramid
// (shared/API.md "Tiles"; docs/api.md; the flow in docs/architecture.md).
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
#include "server/services.h"

namespace fractal::server {

inline constexpr int kTileSize = 256;

// A tile request, validated and in canonical form.
struct TileQuery {
  int z = 0;
  std::uint64_t x = 0, y = 0;  // 0 when they do not fit (deep levels): see x_text, y_text
  std::string x_text, y_text;   // as given (digits only)
  TaskSpec spec;          // the POST /add spec of the tile's view, canonical
  nlohmann::json params;  // to_json(spec): what the worker renders
  std::string key;        // hex SHA-256 (HMAC with a fixed label) of the canonical form: the cache key
  std::string etag;       // strong ETag, quoted
};

// Validates the path segments and the query through the TaskSpec field table.
// Throws ApiError: 400 invalid_parameter naming z, x, y or the query parameter,
// 422 zoom_too_deep.
[[nodiscard]] TileQuery parse_tile_query(std::string_view z, std::string_view x, std::string_view y_png,
                                         const std::vector<std::pair<std::string, std::string>>& query);

// The view of tile (z, x, y) as API.md defines it: scale = 4 / 2^z,
// centre = origin + (-2 + (x + 0.5) * scale, 2 - (y + 0.5) * scale), each
// coordinate rounded once.
struct TileView {
  double center_re = 0, center_im = 0, scale = 4;
};
[[nodiscard]] TileView tile_view(FractalKind fractal, int z, std::uint64_t x, std::uint64_t y);

// Whether an If-None-Match header value matches `etag` ("*", a list, W/ prefixes).
[[nodiscard]] bool etag_matches(std::string_view if_none_match, std::string_view etag);

class TilesResource {
 public:
  explicit TilesResource(Services& services) : s_(services) {}
  void setup_routes(Router& router);

 private:
  using Clock = std::chrono::steady_clock;
  Reply tile(RequestContext& ctx);
  // The blocking part of a miss (run on a waiter thread): as single-flight
  // leader submit and wait for the reply, as follower poll the cache.
  Reply wait_for_render(const TileQuery& q, const std::string& request_id, bool leader, Clock::time_point deadline,
                        const HeaderList& headers, TileOutcome& outcome);
  void end_user(const std::string& user) noexcept;
  void finish_wait(const std::string& user, TileOutcome outcome, Clock::time_point started) noexcept;
  static Reply png_reply(std::string png, bool hit, HeaderList headers);

  Services& s_;
};

}  // namespace fractal::server
