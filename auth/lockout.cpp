#include "auth/lockout.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <utility>

#include "auth/credentials.h"
#include "auth/sodium_init.h"

namespace fractal::auth {

// ---- InMemoryAttemptCounter ----

InMemoryAttemptCounter::InMemoryAttemptCounter(SteadyClock clock) : clock_(std::move(clock)) {}

std::int64_t InMemoryAttemptCounter::increment(std::string_view key, std::chrono::seconds window) {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  if (++since_sweep_ >= 1024) sweep(now);
  auto& e = entries_[std::string(key)];
  if (e.count == 0 || e.expires <= now) e = Entry{0, now + window};  // new window
  return ++e.count;
}

std::int64_t InMemoryAttemptCounter::get(std::string_view key) {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(std::string(key));
  if (it == entries_.end() || it->second.expires <= now) return 0;
  return it->second.count;
}

std::chrono::seconds InMemoryAttemptCounter::ttl(std::string_view key) {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(std::string(key));
  if (it == entries_.end() || it->second.expires <= now) return std::chrono::seconds{0};
  return std::chrono::ceil<std::chrono::seconds>(it->second.expires - now);
}

void InMemoryAttemptCounter::reset(std::string_view key) {
  std::lock_guard lock(mutex_);
  entries_.erase(std::string(key));
}

void InMemoryAttemptCounter::sweep(std::chrono::steady_clock::time_point now) {
  since_sweep_ = 0;
  std::erase_if(entries_, [now](const auto& entry) { return entry.second.expires <= now; });
}

// ---- LoginGuard ----

LoginGuard::LoginGuard(AttemptCounter& counter, LoginGuardOptions options)
    : counter_(counter), options_(std::move(options)) {}

std::string LoginGuard::key_for(std::string_view username) const {
  if (!validate_username(username)) return options_.key_prefix + normalize_username(username);
  // Not a possible account name: a short digest of the bytes as sent. '#' is
  // outside the username alphabet, so these keys never collide with real ones.
  detail::ensure_sodium();
  std::array<unsigned char, 16> digest{};
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(username.data()),
                     username.size(), nullptr, 0);
  std::array<char, 2 * 16 + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return options_.key_prefix + "#" + hex.data();
}

LoginDecision LoginGuard::check(std::string_view username) {
  const std::string key = key_for(username);
  const std::int64_t attempt = counter_.increment(key, options_.window);
  if (attempt <= options_.max_failures) return LoginDecision{};
  // At least 1 s: the window may end between INCR and TTL, and "Retry-After: 0"
  // would invite an immediate retry loop.
  return LoginDecision{true, std::max(std::chrono::seconds{1}, counter_.ttl(key))};
}

void LoginGuard::record_failure(std::string_view) {}

void LoginGuard::record_success(std::string_view username) {
  const std::string key = key_for(username);
  // Only an attempt admitted before lockout may reset: should a caller verify
  // a password despite a locked check(), the lockout still stands.
  if (counter_.get(key) > options_.max_failures) return;
  counter_.reset(key);
}

LoginDecision LoginGuard::peek(std::string_view username) {
  const std::string key = key_for(username);
  if (counter_.get(key) < options_.max_failures) return LoginDecision{};
  return LoginDecision{true, std::max(std::chrono::seconds{1}, counter_.ttl(key))};
}

}  // namespace fractal::auth
