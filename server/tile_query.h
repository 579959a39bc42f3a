// The tile request parser of GET /tiles/{z}/{x}/{y}.png: path segments and
// query -> the POST /add spec of the tile's view, in canonical form (cache key,
// ETag). Pure (no services), so it is unit-tested and fuzzed on its own
// (bench/fuzz/tile_query_fuzz.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/task_spec.h"

namespace fractal::server {

// The query parameters a tile takes, in the order docs/api.md lists them.
inline constexpr std::array<std::string_view, 6> kTileQueryFields = {"fractal",  "julia_c",  "max_iter",
                                                                     "palette", "coloring", "precision"};

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

// The view of tile (z, x, y) as docs/api.md defines it: scale = 4 / 2^z,
// centre = origin + (-2 + (x + 0.5) * scale, 2 - (y + 0.5) * scale), each
// coordinate rounded once.
struct TileView {
  double center_re = 0, center_im = 0, scale = 4;
};
[[nodiscard]] TileView tile_view(FractalKind fractal, int z, std::uint64_t x, std::uint64_t y);

// Lower-case hex of `bytes` (cache keys, request ids).
[[nodiscard]] std::string to_hex(std::string_view bytes);

// Whether an If-None-Match header value matches `etag` ("*", a list, W/ prefixes).
[[nodiscard]] bool etag_matches(std::string_view if_none_match, std::string_view etag);

}  // namespace fractal::server
