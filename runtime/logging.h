// Logs of both binaries: one line per event, `time=<UTC> level=<level>` and
// then key=value fields, every value that needs it passed through log_value.
#pragma once

#include <string>
#include <string_view>

namespace fractal::runtime {

// The one line prefix: time key, its format (UTC, milliseconds) and the level.
inline constexpr const char* kLogPattern = "time=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v";

// Sets spdlog's default logger: kLogPattern, the level ("trace" ... "off"),
// and a flush after every line of level info or above (a killed container
// loses no line).
void setup_logging(std::string_view level);

// One value of a key=value field, written as `key={}`: as it is when it is a
// plain token, else in double quotes with \" \\ \n \r \t escaped and any other
// byte outside printable ASCII as \xNN, so one event stays one parseable line.
// Values longer than kLogValueMax bytes are cut and end in "...".
inline constexpr std::size_t kLogValueMax = 1024;
[[nodiscard]] std::string log_value(std::string_view value);

}  // namespace fractal::runtime
