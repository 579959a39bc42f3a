// A request parameter's name as an error message and `field` show it.
#pragma once

#include <string>
#include <string_view>

namespace fractal::server {

// Control characters become '?' (ApiError::what() is a C string: a name
// starting with NUL left the message empty; found by
// bench/fuzz/tile_query_fuzz.cpp), at most 64 bytes.
[[nodiscard]] inline std::string printable_name(std::string_view name) {
  std::string out(name.substr(0, 64));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

}  // namespace fractal::server
