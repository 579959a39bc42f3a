#include "runtime/logging.h"

#include <spdlog/spdlog.h>

namespace fractal::runtime {

void setup_logging(std::string_view level) {
  spdlog::set_pattern(kLogPattern, spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
  spdlog::flush_on(spdlog::level::info);
}

std::string log_value(std::string_view value) {
  const bool cut = value.size() > kLogValueMax;
  if (cut) value = value.substr(0, kLogValueMax);
  bool plain = !value.empty() && !cut;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '=' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(value);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20 || u >= 0x7f) {
          out += "\\x";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  if (cut) out += "...";
  out += '"';
  return out;
}

}  // namespace fractal::runtime
