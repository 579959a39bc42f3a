#include <algorithm>

#include "storage/redis.h"

namespace fractal::storage {
namespace {

// INCR, then EXPIRE only when the key has no expiry: the window starts at the
// first increment and a key that somehow lost its TTL gets one again.
constexpr const char* kIncrScript = R"lua(
local n = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
)lua";

std::string seconds_arg(std::chrono::seconds s) { return std::to_string(std::max<long long>(s.count(), 1)); }

}  // namespace

RedisKv::RedisKv(RedisOptions redis) : conn_(std::move(redis)) {}

std::int64_t RedisKv::incr_with_expiry(std::string_view key, std::chrono::seconds ttl) {
  std::lock_guard lock(mutex_);
  return conn_.command({"EVAL", kIncrScript, "1", std::string(key), seconds_arg(ttl)}).integer;
}

std::optional<std::int64_t> RedisKv::get_int(std::string_view key) {
  std::lock_guard lock(mutex_);
  const RedisReply r = conn_.command({"GET", std::string(key)});
  if (r.is_nil()) return std::nullopt;
  try {
    std::size_t used = 0;
    const long long v = std::stoll(r.str, &used);
    if (used != r.str.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<std::chrono::seconds> RedisKv::ttl(std::string_view key) {
  std::lock_guard lock(mutex_);
  const long long t = conn_.command({"TTL", std::string(key)}).integer;  // -2 missing, -1 no expiry
  if (t < 0) return std::nullopt;
  return std::chrono::seconds(t);
}

bool RedisKv::del(std::string_view key) {
  std::lock_guard lock(mutex_);
  return conn_.command({"DEL", std::string(key)}).integer > 0;
}

void RedisKv::set_with_expiry(std::string_view key, std::string_view value, std::chrono::seconds ttl) {
  std::lock_guard lock(mutex_);
  conn_.command({"SET", std::string(key), std::string(value), "EX", seconds_arg(ttl)});
}

bool RedisKv::exists(std::string_view key) {
  std::lock_guard lock(mutex_);
  return conn_.command({"EXISTS", std::string(key)}).integer > 0;
}

bool RedisKv::ping() noexcept {
  std::lock_guard lock(mutex_);
  return conn_.ping();
}

}  // namespace fractal::storage
