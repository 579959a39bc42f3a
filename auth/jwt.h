// HS256 JSON Web Tokens (RFC 7519 / RFC 7515 compact form), issued and verified here.
//
// Why hand-written rather than libjwt: libjwt 1.10 (Debian 12) does not check
// exp/nbf, accepts an HS512 token when given an HS256 key and accepts anything
// with a NULL key (measured when the stack was chosen). Working around that still leaves the
// security decision inside a library whose behaviour changes between versions.
// HS256 is small enough to do exactly: split the compact form, strict base64url
// (no padding, canonical trailing bits), the header must say alg "HS256" and
// nothing else, HMAC-SHA256 (libsodium) over the received header.payload bytes,
// constant-time comparison (sodium_memcmp), then the claims. The same code
// issues the tokens, so no second library is linked.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/secret.h"

namespace fractal::auth {

inline constexpr std::chrono::seconds kDefaultTokenTtl{3600};
inline constexpr std::chrono::seconds kDefaultLeeway{30};
inline constexpr std::size_t kMaxTokenBytes = 8192;  // longer input is rejected before any parsing

struct Claims {
  std::string sub;       // user id
  std::string username;
  std::string jti;       // token id (UUID v4), the revocation handle
  std::int64_t iat = 0;  // seconds since the Unix epoch
  std::int64_t exp = 0;
  std::optional<std::int64_t> nbf;
};

struct IssuedToken {
  std::string token;
  std::string jti;
  std::int64_t issued_at = 0;   // iat
  std::int64_t expires_at = 0;  // exp
  std::int64_t expires_in = 0;  // exp - iat, seconds (the sign-in answer's "expires_in")
};

// Either claims or a reason (human text for logs; do not send it to clients
// beyond "invalid_token").
struct VerifyResult {
  std::optional<Claims> claims;
  std::string error;
  [[nodiscard]] bool ok() const noexcept { return claims.has_value(); }
};

struct IssueOptions {
  std::chrono::seconds ttl = kDefaultTokenTtl;  // must be > 0
  std::optional<std::int64_t> not_before;      // nbf claim when set
};

// Header {"alg":"HS256","typ":"JWT"}; claims sub, username, iat = now,
// exp = now + ttl, jti = fresh UUID v4 [, nbf]. Throws std::invalid_argument
// for an empty user id or username, ttl <= 0, or a key under 32 bytes.
[[nodiscard]] IssuedToken issue_token(const SigningKey& key, std::string_view user_id,
                                      std::string_view username, std::int64_t now,
                                      const IssueOptions& options = {});

// Checks, in order: size, exactly three non-empty base64url parts, header a
// JSON object without duplicate names whose alg is exactly "HS256" (typ absent
// or "JWT", no crit), the HMAC-SHA256 signature (constant time), payload a JSON
// object without duplicate names, and the claims: exp, iat (integers), sub,
// username, jti (non-empty strings) required; expired when now >= exp (no
// leeway: a token is never accepted after its announced end); iat and nbf may
// be at most `leeway` in the future. Never throws.
[[nodiscard]] VerifyResult verify_token(const SigningKey& key, std::string_view token, std::int64_t now,
                                        std::chrono::seconds leeway = kDefaultLeeway) noexcept;

// Random UUID v4 (libsodium randombytes), lowercase 8-4-4-4-12.
[[nodiscard]] std::string new_uuid_v4();

// Seconds since the Unix epoch from the system clock.
[[nodiscard]] std::int64_t unix_now();

namespace detail {
// RFC 4648 §5 without padding.
[[nodiscard]] std::string base64url_encode(std::string_view bytes);
// Strict: only [A-Za-z0-9_-], no padding, canonical (unused bits zero); nullopt otherwise.
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view text);
[[nodiscard]] std::string hmac_sha256(std::string_view key, std::string_view data);
// base64url(header) "." base64url(payload) "." base64url(HMAC-SHA256): signs
// any JSON text as given. For tests that need validly signed odd tokens.
[[nodiscard]] std::string sign_hs256(const SigningKey& key, std::string_view header_json,
                                     std::string_view payload_json);
}  // namespace detail

}  // namespace fractal::auth
