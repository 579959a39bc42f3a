// Built-in palettes and custom "#rrggbb" stops.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/task_spec.h"

namespace fractal {

struct NamedPalette {
  std::string_view name;
  std::string_view description;
  std::vector<Rgb8> stops;
};

// Every built-in palette, "classic" first.
[[nodiscard]] const std::vector<NamedPalette>& builtin_palettes();
[[nodiscard]] const NamedPalette* find_palette(std::string_view name);
// "#rrggbb" (case-insensitive hex) -> colour; nullopt when malformed.
[[nodiscard]] std::optional<Rgb8> parse_hex_colour(std::string_view text);
[[nodiscard]] std::string to_hex(Rgb8 c);

}  // namespace fractal
