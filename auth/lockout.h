// Sign-in lockout (docs/api.md "Accounts and tokens").
//
// Policy: per username, case-insensitively (normalize_username), counted in a
// fixed 15-minute window that starts at the first counted attempt. Attempts 1–5
// are verified normally (a wrong password answers 401); the 6th and every later
// attempt in the window answers 429 with Retry-After = the rest of the window,
// without verifying the password at all — so even the right password gets 429
// and a locked account is no password oracle. When the window passes, the
// counter is gone and the user starts afresh.
//
// Decision: a successful sign-in before lockout resets the counter. A user who
// mistypes twice and then gets in should not carry those failures into the next
// typo; an attacker cannot trigger the reset without the password.
//
// Race-free counting: check() counts the attempt atomically (INCR) *before* the
// password is verified, and is the only step that decides. With a
// read-then-increment scheme, N parallel requests arriving at count 4 would all
// be verified (N guesses instead of 1); here exactly 5 attempts per window are
// ever verified, however many arrive at once. record_failure() therefore adds
// nothing; record_success() resets. Every attempt counts the same whether or
// not the user exists, so the lockout does not reveal which accounts exist.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/clock.h"

namespace fractal::auth {

// Fixed-window counters, implemented over Redis by the storage layer
// (storage::RedisKv: incr_with_expiry, get_int, ttl, del). Thread-safe;
// failures to reach the store are thrown (the server answers 503).
class AttemptCounter {
 public:
  virtual ~AttemptCounter() = default;
  // INCR, and EXPIRE key window when the key has no expiry yet (first
  // increment, or a key that somehow lost its expiry), atomically. Returns the new count.
  virtual std::int64_t increment(std::string_view key, std::chrono::seconds window) = 0;
  // Current count; 0 when the key is missing or expired.
  virtual std::int64_t get(std::string_view key) = 0;
  // Remaining lifetime, rounded up to whole seconds; 0 when missing or without expiry.
  virtual std::chrono::seconds ttl(std::string_view key) = 0;
  virtual void reset(std::string_view key) = 0;
};

// For tests and development mode: thread-safe, with an injectable clock.
class InMemoryAttemptCounter final : public AttemptCounter {
 public:
  explicit InMemoryAttemptCounter(SteadyClock clock = steady_clock_now());
  std::int64_t increment(std::string_view key, std::chrono::seconds window) override;
  std::int64_t get(std::string_view key) override;
  std::chrono::seconds ttl(std::string_view key) override;
  void reset(std::string_view key) override;

 private:
  struct Entry {
    std::int64_t count = 0;
    std::chrono::steady_clock::time_point expires;
  };
  void sweep(std::chrono::steady_clock::time_point now);

  SteadyClock clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::size_t since_sweep_ = 0;
};

struct LoginGuardOptions {
  std::int64_t max_failures = 5;          // attempts verified per window
  std::chrono::seconds window{15 * 60};
  // The service names it (storage/redis_keys.h: "fractal:auth:signin:").
  std::string key_prefix;
};

struct LoginDecision {
  bool locked = false;
  std::chrono::seconds retry_after{0};  // > 0 when locked: the Retry-After header value
};

class LoginGuard {
 public:
  explicit LoginGuard(AttemptCounter& counter, LoginGuardOptions options = {});

  // Once per sign-in attempt, before the password is verified (and before the
  // user is looked up). Counts the attempt. locked: answer 429 with
  // Retry-After = retry_after and do not verify. Otherwise verify, then call
  // record_success or record_failure.
  [[nodiscard]] LoginDecision check(std::string_view username);
  // The admitted attempt failed (wrong password or unknown user). It was
  // already counted by check(); kept so call sites state the outcome.
  void record_failure(std::string_view username);
  // The admitted attempt succeeded: the failures so far are forgiven (not
  // once the window is locked: then the lockout stands until it passes).
  void record_success(std::string_view username);

  // Whether the next attempt would be refused, counting nothing (metrics, tests).
  [[nodiscard]] LoginDecision peek(std::string_view username);
  // The counter key of a username: prefix + normalized username; usernames
  // that break the username rule (no account can have them) are keyed by a
  // hash so arbitrary input never becomes an arbitrarily long key.
  [[nodiscard]] std::string key_for(std::string_view username) const;

 private:
  AttemptCounter& counter_;
  LoginGuardOptions options_;
};

}  // namespace fractal::auth
