#include "auth/authenticator.h"

#include <stdexcept>
#include <utility>

namespace fractal::auth {

std::optional<std::string_view> parse_bearer(std::string_view h) {
  constexpr std::string_view scheme = "bearer";
  if (h.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = h[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return std::nullopt;
  }
  std::size_t pos = scheme.size();
  if (h[pos] != ' ') return std::nullopt;
  while (pos < h.size() && h[pos] == ' ') ++pos;
  const std::string_view token = h.substr(pos);
  if (token.empty()) return std::nullopt;
  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
  std::size_t i = 0;
  auto t68 = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
  };
  while (i < token.size() && t68(token[i])) ++i;
  if (i == 0) return std::nullopt;
  while (i < token.size() && token[i] == '=') ++i;
  if (i != token.size()) return std::nullopt;
  return token;
}

Authenticator::Authenticator(SigningKey key, RevocationStore& revocations, AuthenticatorOptions options,
                             UnixClock clock)
    : key_(std::move(key)), revocations_(revocations), options_(options), clock_(std::move(clock)) {
  if (key_.size() < kMinSecretBytes) throw std::invalid_argument("JWT signing key under 32 bytes");
  if (options_.token_ttl.count() <= 0) throw std::invalid_argument("token ttl must be positive");
  if (options_.leeway.count() < 0) throw std::invalid_argument("leeway must not be negative");
  if (!clock_) throw std::invalid_argument("no clock");
}

IssuedToken Authenticator::issue(std::string_view user_id, std::string_view username) const {
  IssueOptions o;
  o.ttl = options_.token_ttl;
  return issue_token(key_, user_id, username, clock_(), o);
}

VerifyResult Authenticator::verify(std::string_view token) const {
  VerifyResult r = verify_token(key_, token, clock_(), options_.leeway);
  if (r.ok() && revocations_.is_revoked(r.claims->jti)) {
    r.claims.reset();
    r.error = "token revoked";
  }
  return r;
}

void Authenticator::revoke(const Claims& claims) const {
  const std::int64_t remaining = claims.exp - clock_() + options_.leeway.count();
  if (remaining <= 0) return;  // expired everywhere already
  revocations_.revoke(claims.jti, std::chrono::seconds{remaining});
}

}  // namespace fractal::auth
