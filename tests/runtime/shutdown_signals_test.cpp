#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "runtime/shutdown_signals.h"

namespace fractal::runtime {
namespace {

// SIGTERM to the process reaches the watcher thread (not a handler) once,
// and wait() returns after the callback ran.
TEST(ShutdownSignals, FirstSignalRunsTheCallbackOnTheWatcherThread) {
  ShutdownSignals::block();
  std::atomic<int> calls{0};
  std::atomic<bool> on_other_thread{false};
  const auto main_thread = std::this_thread::get_id();
  ShutdownSignals signals([&](int sig) {
    EXPECT_EQ(sig, SIGTERM);
    on_other_thread = std::this_thread::get_id() != main_thread;
    ++calls;
  });
  EXPECT_EQ(signals.received(), 0);
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  EXPECT_EQ(signals.wait(), SIGTERM);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(on_other_thread.load());
  EXPECT_STREQ(ShutdownSignals::name(SIGINT), "SIGINT");
}

// A second signal means "now": the process exits with status 1.
TEST(ShutdownSignalsDeathTest, SecondSignalExitsAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ShutdownSignals::block();
        ShutdownSignals signals([](int) {});
        ::kill(::getpid(), SIGINT);
        signals.wait();
        ::kill(::getpid(), SIGINT);
        ::pause();
      },
      ::testing::ExitedWithCode(1), "");
}

}  // namespace
}  // namespace fractal::runtime
