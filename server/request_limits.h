// The request size limits of the contract (docs/api.md, "Conventions"), in
// one place: the transport guard (pistache_handler.cpp) refuses a request
// whose Content-Length or chunked body passes them before the body is read,
// the dispatcher (server.cpp) checks the decoded body once more, and the
// OpenAPI document states them. All of them read these names.
#pragma once

#include <cstddef>
#include <string>

#include "server/api_error.h"

namespace fractal::server {

inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;  // request body
inline constexpr std::size_t kMaxHeadBytes = 32 * 1024;  // request line + headers

inline std::string body_too_large_message(std::size_t limit = kMaxBodyBytes) {
  return "request body exceeds " + std::to_string(limit) + " bytes";
}

inline ApiError body_too_large() { return ApiError(413, "payload_too_large", body_too_large_message()); }

}  // namespace fractal::server
