// Values for key=value log lines: quoted when they hold spaces, quotes or '='
// ("cpu:avx512 x2", error messages), so every line stays machine-readable.
#pragma once

#include <string>
#include <string_view>

namespace fractal::scheduler {

inline std::string log_value(std::string_view v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t' || c == '\r' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace fractal::scheduler
