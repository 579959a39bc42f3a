#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "auth/lockout.h"

namespace fractal::auth {
namespace {

using namespace std::chrono_literals;

// A clock the test moves by hand: no sleeps.
struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours{1000}};
  SteadyClock fn() {
    return [this] { return now; };
  }
};

class Lockout : public ::testing::Test {
 protected:
  FakeClock clock;
  InMemoryAttemptCounter counter{clock.fn()};
  LoginGuard guard{counter, LoginGuardOptions{.key_prefix = "signin:"}};

  // One failed sign-in as the server does it: check, then (if admitted) fail.
  LoginDecision fail_once(std::string_view user) {
    const LoginDecision d = guard.check(user);
    if (!d.locked) guard.record_failure(user);
    return d;
  }
};

TEST_F(Lockout, FiveFailuresAreVerifiedTheSixthIsLocked) {
  for (int i = 1; i <= 5; ++i) {
    const LoginDecision d = fail_once("alice");
    EXPECT_FALSE(d.locked) << "attempt " << i << " must be verified (answers 401)";
  }
  const LoginDecision sixth = guard.check("alice");
  ASSERT_TRUE(sixth.locked);
  EXPECT_GT(sixth.retry_after.count(), 0);
  EXPECT_LE(sixth.retry_after.count(), 900);
  // Every later attempt too, the right password included: check() refuses before any verification.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(guard.check("alice").locked);
  guard.record_success("alice");  // a caller that verified anyway cannot lift the lockout
  EXPECT_TRUE(guard.check("alice").locked);
}

TEST_F(Lockout, RetryAfterIsTheRestOfTheWindow) {
  for (int i = 0; i < 5; ++i) {
    fail_once("alice");
    clock.now += 10s;  // failures at 0, 10, ..., 40 s; the window started at 0 s
  }
  clock.now += 60s;  // 6th attempt at 110 s
  LoginDecision d = guard.check("alice");
  ASSERT_TRUE(d.locked);
  EXPECT_EQ(d.retry_after, 900s - 110s);
  clock.now += 500ms;
  EXPECT_EQ(guard.check("alice").retry_after, 790s);  // rounded up, never 0 while locked
  clock.now += 789s;  // 0.5 s before the end
  d = guard.check("alice");
  ASSERT_TRUE(d.locked);
  EXPECT_EQ(d.retry_after, 1s);
}

TEST_F(Lockout, WindowExpiryUnlocks) {
  for (int i = 0; i < 5; ++i) fail_once("alice");
  ASSERT_TRUE(guard.check("alice").locked);
  clock.now += 899s;
  EXPECT_TRUE(guard.check("alice").locked);  // locked attempts do not extend the window
  clock.now += 1s;
  EXPECT_FALSE(guard.check("alice").locked);
  guard.record_failure("alice");
  // A fresh window: four more admitted (five in all), then locked again.
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(fail_once("alice").locked);
  EXPECT_TRUE(guard.check("alice").locked);
}

TEST_F(Lockout, OtherUsersAreUnaffected) {
  for (int i = 0; i < 5; ++i) fail_once("alice");
  ASSERT_TRUE(guard.check("alice").locked);
  EXPECT_FALSE(guard.check("bob").locked);
  EXPECT_FALSE(guard.check("alice2").locked);
  EXPECT_FALSE(guard.check("alic").locked);
}

TEST_F(Lockout, UsernameIsCaseInsensitive) {
  fail_once("Alice");
  fail_once("ALICE");
  fail_once("alice");
  fail_once("aLiCe");
  fail_once("alicE");
  EXPECT_TRUE(guard.check("alice").locked);
  EXPECT_TRUE(guard.check("ALICE").locked);
  EXPECT_EQ(guard.key_for("ALICE"), "signin:alice");
}

TEST_F(Lockout, SuccessBeforeLockoutResets) {
  for (int i = 0; i < 4; ++i) fail_once("alice");
  ASSERT_FALSE(guard.check("alice").locked);  // 5th attempt: right password
  guard.record_success("alice");
  EXPECT_FALSE(guard.peek("alice").locked);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(fail_once("alice").locked);
  EXPECT_TRUE(guard.check("alice").locked);
}

TEST_F(Lockout, PeekCountsNothing) {
  for (int i = 0; i < 4; ++i) fail_once("alice");
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(guard.peek("alice").locked);
  fail_once("alice");
  const LoginDecision d = guard.peek("alice");
  EXPECT_TRUE(d.locked);
  EXPECT_EQ(d.retry_after, 900s);
}

TEST_F(Lockout, ParallelAttemptsGetExactlyFiveVerifications) {
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (!guard.check("alice").locked) {
          admitted.fetch_add(1);
          guard.record_failure("alice");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted.load(), 5);
}

TEST_F(Lockout, InvalidUsernamesAreCountedUnderBoundedKeys) {
  const std::string huge(100000, 'x');
  EXPECT_LT(guard.key_for(huge).size(), 80u);
  EXPECT_EQ(guard.key_for(huge), guard.key_for(huge));
  EXPECT_NE(guard.key_for("a b"), guard.key_for("a_b"));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(fail_once(huge).locked);
  EXPECT_TRUE(guard.check(huge).locked);
  EXPECT_FALSE(guard.check(std::string(100000, 'y')).locked);
}

TEST(InMemoryAttemptCounter, IncrementGetTtlReset) {
  FakeClock clock;
  InMemoryAttemptCounter c(clock.fn());
  EXPECT_EQ(c.get("k"), 0);
  EXPECT_EQ(c.ttl("k"), 0s);
  EXPECT_EQ(c.increment("k", 60s), 1);
  clock.now += 10s;
  EXPECT_EQ(c.increment("k", 60s), 2);  // the window is fixed at the first increment
  EXPECT_EQ(c.get("k"), 2);
  EXPECT_EQ(c.ttl("k"), 50s);
  clock.now += 49s + 1ms;
  EXPECT_EQ(c.ttl("k"), 1s);
  clock.now += 999ms;
  EXPECT_EQ(c.get("k"), 0);
  EXPECT_EQ(c.ttl("k"), 0s);
  EXPECT_EQ(c.increment("k", 60s), 1);
  c.reset("k");
  EXPECT_EQ(c.get("k"), 0);
  c.reset("never-there");
}

}  // namespace
}  // namespace fractal::auth
