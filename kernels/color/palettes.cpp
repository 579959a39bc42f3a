#include "kernels/color/palette.h"

#include <cstdint>

namespace fractal {
namespace {

// Stops are evenly spaced; smooth colouring cycles through them and wraps from
// the last back to the first, so most palettes end near where they start.
constexpr Rgb8 rgb(std::uint32_t hex) {
  return Rgb8{static_cast<std::uint8_t>(hex >> 16), static_cast<std::uint8_t>(hex >> 8),
              static_cast<std::uint8_t>(hex)};
}

std::vector<NamedPalette> make_builtins() {
  return {
      {"classic", "Ultra Fractal's default: deep blue, sky blue, white, orange, near black",
       {rgb(0x000764), rgb(0x206bcb), rgb(0xedffff), rgb(0xffaa00), rgb(0x000200)}},
      {"fire", "black through ember red, orange and yellow to white heat",
       {rgb(0x000000), rgb(0x4a0700), rgb(0xa31a00), rgb(0xe85d04), rgb(0xfaa307), rgb(0xffe66d), rgb(0xfffbe6)}},
      {"ocean", "abyssal navy rising through teal to sea foam",
       {rgb(0x000814), rgb(0x001d3d), rgb(0x003566), rgb(0x0077b6), rgb(0x00b4d8), rgb(0x90e0ef), rgb(0xcaf0f8)}},
      {"grayscale", "black to white", {rgb(0x000000), rgb(0xffffff)}},
      {"twilight", "cyclic dusk: pale lilac, steel blue, deep violet, wine, peach",
       {rgb(0xe2d9e2), rgb(0xa3bdcc), rgb(0x6c8dc4), rgb(0x5b55b0), rgb(0x4e2a7a), rgb(0x2f1436), rgb(0x6a1d4b),
        rgb(0xa23a4e), rgb(0xc46f58), rgb(0xd6aa8e)}},
      {"viridis", "perceptually uniform purple, blue, green, yellow (matplotlib's viridis)",
       {rgb(0x440154), rgb(0x482878), rgb(0x3e4989), rgb(0x31688e), rgb(0x26828e), rgb(0x1f9e89), rgb(0x35b779),
        rgb(0x6ece58), rgb(0xb5de2b), rgb(0xfde725)}},
      {"electric", "black and ultraviolet flaring into neon violet and cyan",
       {rgb(0x000000), rgb(0x10002b), rgb(0x3c096c), rgb(0x7b2cbf), rgb(0xc77dff), rgb(0x48cae4), rgb(0xe0ffff)}},
      {"pastel", "soft pink, butter, mint, baby blue and lavender",
       {rgb(0xffd6e0), rgb(0xffefb5), rgb(0xc1f0c1), rgb(0xb5e3ff), rgb(0xd9c8ff)}},
      {"sunset", "night indigo through purple and magenta to orange and gold",
       {rgb(0x0b0221), rgb(0x3a0ca3), rgb(0x7209b7), rgb(0xf72585), rgb(0xff9e00), rgb(0xffd60a)}},
      {"ice", "black, midnight blue and glacier blue to white",
       {rgb(0x000000), rgb(0x0b1f3a), rgb(0x1e5f8c), rgb(0x6fb7e8), rgb(0xe8f6ff)}},
  };
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const std::vector<NamedPalette>& builtin_palettes() {
  static const std::vector<NamedPalette> palettes = make_builtins();
  return palettes;
}

const NamedPalette* find_palette(std::string_view name) {
  for (const auto& p : builtin_palettes())
    if (p.name == name) return &p;
  return nullptr;
}

std::optional<Rgb8> parse_hex_colour(std::string_view text) {
  if (text.size() != 7 || text[0] != '#') return std::nullopt;
  std::uint8_t v[3];
  for (int k = 0; k < 3; ++k) {
    const int hi = hex_digit(text[1 + 2 * k]), lo = hex_digit(text[2 + 2 * k]);
    if (hi < 0 || lo < 0) return std::nullopt;
    v[k] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return Rgb8{v[0], v[1], v[2]};
}

std::string to_hex(Rgb8 c) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "#rrggbb";
  const std::uint8_t v[3] = {c.r, c.g, c.b};
  for (int k = 0; k < 3; ++k) {
    s[1 + 2 * k] = kDigits[v[k] >> 4];
    s[2 + 2 * k] = kDigits[v[k] & 15];
  }
  return s;
}

}  // namespace fractal
