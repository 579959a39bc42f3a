// The HTTP Basic credentials of GET /sign-in (RFC 7617): the Authorization
// header's value -> username and password. Pure, so it is unit-tested and
// fuzzed on its own (bench/fuzz/basic_auth_fuzz.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fractal::server {

struct BasicCredentials {
  std::string username, password;
};

struct BasicAuthResult {
  std::optional<BasicCredentials> credentials;  // set on success
  std::string error;                             // else why, for the 401's message
};

// "Basic <base64(user:password)>": the scheme case-insensitively, spaces after
// it allowed, strict RFC 4648 base64 with padding, the first ':' separates.
[[nodiscard]] BasicAuthResult parse_basic_authorization(std::string_view header_value);

// RFC 4648 base64 with padding, strict; nullopt when malformed.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view in);

}  // namespace fractal::server
