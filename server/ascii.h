// ASCII case folding and trimming for HTTP header values (field names and
// tokens are case-insensitive ASCII; RFC 9110 section 5.6.3 whitespace).
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace fractal::server {

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// `s` without leading and trailing characters of `spaces` (space and tab: OWS).
inline std::string_view trim(std::string_view s, std::string_view spaces = " \t") {
  while (!s.empty() && spaces.find(s.front()) != std::string_view::npos) s.remove_prefix(1);
  while (!s.empty() && spaces.find(s.back()) != std::string_view::npos) s.remove_suffix(1);
  return s;
}

}  // namespace fractal::server
