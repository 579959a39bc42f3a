// %XX decoding, one implementation for every caller: Redis URL user info
// (connection_options.cpp), tile query values (server/tile_query.cpp) and
// static file paths (server/web_resource.cpp). Header-only: the fuzz
// harnesses compile those sources without the runtime library.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fractal::runtime {

inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// strict: nullopt when a '%' is not followed by two hex digits.
// lenient: such a '%' is kept as it is, so the result always has a value.
inline std::optional<std::string> percent_decode(std::string_view s, bool lenient = false) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      const int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
      if (!lenient) return std::nullopt;
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace fractal::runtime
