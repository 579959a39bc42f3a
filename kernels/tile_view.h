// The pyramid of docs/api.md "Tiles": tile (z, x, y) is the POST /add view
// width = height = 256, scale = 4 / 2^z,
// center = origin + (-2 + (x + 0.5) * 4/2^z, 2 - (y + 0.5) * 4/2^z)
// with origin the fractal's default centre. Computed exactly (GMP): JSON
// numbers where double holds the values exactly, else decimal strings (deep
// zoom reads those at full precision), rounded to kMaxDecimalDigits
// significant digits only where the exact value has more (z > ~10,000).
#pragma once

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kernels/task_spec.h"

namespace fractal {

inline constexpr int kTileSide = 256;
// Beyond this level the scale is far below 1e-10000: the view is not built,
// a scale below the limit is returned so the TaskSpec rule answers zoom_too_deep.
inline constexpr std::int64_t kDeepestTileLevel = 34'000;
// Longest x or y accepted (2^34000 has 10,236 digits).
inline constexpr std::size_t kMaxTileIndexDigits = 10'300;

enum class TileIndexError { none, x, y };

struct TileViewJson {
  TileIndexError error = TileIndexError::none;  // x or y not below 2^z
  nlohmann::json center;                         // [re, im]
  nlohmann::json scale;
};

// x, y: non-empty strings of decimal digits (the caller checks the grammar).
[[nodiscard]] TileViewJson tile_view_json(FractalKind fractal, std::int64_t z, std::string_view x, std::string_view y);

}  // namespace fractal
