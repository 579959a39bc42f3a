// One object for the server's token work: issue at sign-in, verify on every
// authenticated request (signature, claims, revocation), revoke at sign-out.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "auth/jwt.h"
#include "auth/revocation.h"
#include "auth/secret.h"

namespace fractal::auth {

struct AuthenticatorOptions {
  std::chrono::seconds token_ttl = kDefaultTokenTtl;  // "expires_in"; must be > 0
  std::chrono::seconds leeway = kDefaultLeeway;       // clock skew allowed for iat/nbf
};

using UnixClock = std::function<std::int64_t()>;  // seconds since the Unix epoch

// The token in an `Authorization` header value: scheme "Bearer"
// (case-insensitive), one or more spaces, then a token68 (RFC 7235) with
// nothing after it. nullopt for anything else.
[[nodiscard]] std::optional<std::string_view> parse_bearer(std::string_view authorization);

class Authenticator {
 public:
  // Throws std::invalid_argument for a key under 32 bytes or a ttl <= 0.
  Authenticator(SigningKey key, RevocationStore& revocations, AuthenticatorOptions options = {},
                UnixClock clock = unix_now);

  // Thread-safe. Throws std::invalid_argument for an empty user id or username.
  [[nodiscard]] IssuedToken issue(std::string_view user_id, std::string_view username) const;

  // The bare token (see parse_bearer). Invalid tokens come back as an error,
  // never as an exception; an exception means the revocation store could not
  // be asked (answer 503, not 401).
  [[nodiscard]] VerifyResult verify(std::string_view token) const;

  // Revokes the token until it would have expired, plus the leeway so a
  // replica whose clock runs behind still sees it revoked. Store failures throw.
  void revoke(const Claims& claims) const;

  [[nodiscard]] const AuthenticatorOptions& options() const noexcept { return options_; }

 private:
  SigningKey key_;
  RevocationStore& revocations_;
  AuthenticatorOptions options_;
  UnixClock clock_;
};

}  // namespace fractal::auth
