// auth/'s store interfaces over Redis (storage::RedisKv): revoked token ids
// and sign-in attempt counters. Redis failures surface as
// storage::StorageUnavailable (answered 503), never as "not revoked".
#pragma once

#include <string>

#include "auth/lockout.h"
#include "auth/revocation.h"
#include "storage/redis.h"
#include "storage/redis_keys.h"

namespace fractal::server {

class RedisRevocationStore final : public auth::RevocationStore {
 public:
  explicit RedisRevocationStore(storage::RedisKv& kv, std::string prefix = std::string(storage::keys::kRevokedPrefix));
  [[nodiscard]] bool is_revoked(std::string_view jti) override;
  void revoke(std::string_view jti, std::chrono::seconds ttl) override;

 private:
  storage::RedisKv& kv_;
  std::string prefix_;
};

class RedisAttemptCounter final : public auth::AttemptCounter {
 public:
  explicit RedisAttemptCounter(storage::RedisKv& kv);
  std::int64_t increment(std::string_view key, std::chrono::seconds window) override;
  std::int64_t get(std::string_view key) override;
  std::chrono::seconds ttl(std::string_view key) override;
  void reset(std::string_view key) override;

 private:
  storage::RedisKv& kv_;
};

}  // namespace fractal::server
