// Logs: one line per event, key=value fields after the level, UTC times.
#pragma once

#include <string>
#include <string_view>

namespace fractal::server {

// Sets spdlog's default logger pattern and level ("info", "warn", ...).
void setup_logging(std::string_view level);

// A value for a quoted log field (key="..."): printable ASCII, no double
// quote, no line breaks, at most 200 characters; one event stays one line.
std::string log_value(std::string_view text);

}  // namespace fractal::server
