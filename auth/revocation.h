// Revoked token ids (jti), kept until the token would have expired anyway.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/clock.h"

namespace fractal::auth {

// Implemented over Redis by the storage layer (SET fractal:auth:revoked:<jti> 1
// EX <ttl>; EXISTS). Implementations must be thread-safe. Failures to reach
// the store are thrown (the server answers 503): the auth code never treats
// "store unavailable" as "not revoked" or as "revoked" on its own.
class RevocationStore {
 public:
  virtual ~RevocationStore() = default;
  [[nodiscard]] virtual bool is_revoked(std::string_view jti) = 0;
  // Remembers jti for ttl; ttl <= 0 may store nothing (the token has expired).
  virtual void revoke(std::string_view jti, std::chrono::seconds ttl) = 0;
};

// For tests and development mode: thread-safe, entries expire after their ttl.
// Expired entries are dropped lazily (a sweep every 256 revocations), so
// memory stays bounded by the tokens revoked within one token lifetime.
class InMemoryRevocationStore final : public RevocationStore {
 public:
  explicit InMemoryRevocationStore(SteadyClock clock = steady_clock_now());
  [[nodiscard]] bool is_revoked(std::string_view jti) override;
  void revoke(std::string_view jti, std::chrono::seconds ttl) override;
  [[nodiscard]] std::size_t size();  // entries not yet expired

 private:
  void sweep(std::chrono::steady_clock::time_point now);

  SteadyClock clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> expiry_;
  std::size_t since_sweep_ = 0;
};

}  // namespace fractal::auth
