#include "server/auth_stores.h"

namespace fractal::server {

RedisRevocationStore::RedisRevocationStore(storage::RedisKv& kv, std::string prefix)
    : kv_(kv), prefix_(std::move(prefix)) {}

bool RedisRevocationStore::is_revoked(std::string_view jti) { return kv_.exists(prefix_ + std::string(jti)); }

void RedisRevocationStore::revoke(std::string_view jti, std::chrono::seconds ttl) {
  if (ttl.count() <= 0) return;  // expired already: nothing to remember
  kv_.set_with_expiry(prefix_ + std::string(jti), "1", ttl);
}

RedisAttemptCounter::RedisAttemptCounter(storage::RedisKv& kv) : kv_(kv) {}

std::int64_t RedisAttemptCounter::increment(std::string_view key, std::chrono::seconds window) {
  return kv_.incr_with_expiry(key, window);
}

std::int64_t RedisAttemptCounter::get(std::string_view key) { return kv_.get_int(key).value_or(0); }

std::chrono::seconds RedisAttemptCounter::ttl(std::string_view key) {
  return kv_.ttl(key).value_or(std::chrono::seconds{0});
}

void RedisAttemptCounter::reset(std::string_view key) { kv_.del(key); }

}  // namespace fractal::server
