#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace fractal::storage {

using Timestamp = std::chrono::system_clock::time_point;

// RFC 3339 in UTC with milliseconds, as the API shows times: "2025-01-31T23:59:59.123Z".
std::string to_rfc3339(Timestamp t);

// Postgres hands timestamps over as microseconds since the Unix epoch.
Timestamp from_unix_micros(std::int64_t micros) noexcept;

}  // namespace fractal::storage
