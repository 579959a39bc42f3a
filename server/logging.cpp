#include "server/logging.h"

#include <spdlog/spdlog.h>

namespace fractal::server {

void setup_logging(std::string_view level) {
  spdlog::set_pattern("time=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

std::string log_value(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) out.push_back(c == '"' ? '\'' : (c >= 0x20 && c < 0x7f ? c : ' '));
  if (text.size() > 200) out += "...";
  return out;
}

}  // namespace fractal::server
