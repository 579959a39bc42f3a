// Redis going away and coming back. These tests own their server.
#include <gtest/gtest.h>

#include <future>

#include "storage/redis.h"
#include "tests/storage/storage_test_env.h"
#include "tests/support/temp_redis.h"

namespace fractal::storage {
namespace {

using namespace std::chrono_literals;
using testing::expect_unavailable;
using testing::redis_options;
using testing::unique_queue;

const char* const kTask[] = {"5f1c2d3e-0000-4000-8000-000000000001", "5f1c2d3e-0000-4000-8000-000000000002",
                             "5f1c2d3e-0000-4000-8000-000000000003"};

TEST(RedisFaults, RestartWithAofKeepsQueuedAndPendingEntries) {
  test::TempRedis redis(test::TempRedis::Options{.append_only = true});
  const QueueOptions q = unique_queue();
  TaskQueue queue(redis_options(redis), q);
  for (const char* t : kTask) queue.enqueue(t);
  const auto first = queue.read("w1", 1, 100ms);
  ASSERT_EQ(first.size(), 1u);

  redis.stop();
  EXPECT_LT(expect_unavailable("redis", [&] { queue.enqueue(kTask[0]); }), 3000ms);
  EXPECT_LT(expect_unavailable("redis", [&] { (void)queue.read("w1", 10, 100ms); }), 3000ms);
  EXPECT_FALSE(queue.ping());
  redis.start();

  const QueueDepth d = queue.depth();
  EXPECT_EQ(d.length, 3);
  EXPECT_EQ(d.pending, 1);
  EXPECT_EQ(d.undelivered, 2);
  const auto pending = queue.pending_for("w1");
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, first[0].id);
  EXPECT_EQ(pending[0].task_id, kTask[0]);
  const auto rest = queue.read("w1", 10, 100ms);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].task_id, kTask[1]);
  EXPECT_EQ(rest[1].task_id, kTask[2]);
}

TEST(RedisFaults, StaleConnectionsAfterARestartAreReplacedTransparently) {
  test::TempRedis redis;
  TaskQueue queue(redis_options(redis), unique_queue());
  RedisKv kv(redis_options(redis));
  queue.enqueue(kTask[0]);
  kv.set_with_expiry("k", "1", 60s);
  redis.stop();
  redis.start();  // empty again: no persistence
  // Not retried blindly (XADD, INCR are not idempotent), yet they succeed first
  // time because the dead connection is noticed before sending.
  EXPECT_NO_THROW(queue.enqueue(kTask[1]));
  EXPECT_EQ(kv.incr_with_expiry("n", 60s), 1);
  const auto got = queue.read("w1", 10, 100ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task_id, kTask[1]);
}

TEST(RedisFaults, KilledServerEndsABlockedReadWithStorageUnavailable) {
  test::TempRedis redis;
  TaskQueue queue(redis_options(redis), unique_queue());
  queue.ensure_group();
  auto reader = std::async(std::launch::async, [&] {
    return expect_unavailable("redis", [&] { (void)queue.read("w1", 10, 30000ms); });
  });
  // Make sure the read is blocked before the kill: Redis lists it as blocked.
  ASSERT_TRUE(testing::wait_until([&] {
    try {
      const RedisReply info = RedisConnection(redis_options(redis)).command({"INFO", "clients"});
      return info.str.find("blocked_clients:1") != std::string::npos;
    } catch (...) {
      return false;
    }
  }, 5s));
  redis.kill();
  EXPECT_LT(reader.get(), 5000ms);
  redis.start();
  queue.enqueue(kTask[0]);
  EXPECT_EQ(queue.read("w1", 10, 100ms).size(), 1u);
}

TEST(RedisFaults, UnreachableRedisFailsFast) {
  RedisOptions o;
  o.host = "127.0.0.1";
  {
    test::TempRedis probe;  // a port that was Redis's a moment ago and is closed now
    o.port = probe.port();
  }
  RedisKv kv(o);
  EXPECT_LT(expect_unavailable("redis", [&] { (void)kv.exists("x"); }), 3000ms);
  EXPECT_FALSE(kv.ping());
  TaskQueue queue(o, unique_queue());
  EXPECT_LT(expect_unavailable("redis", [&] { queue.enqueue(kTask[0]); }), 3000ms);
}

}  // namespace
}  // namespace fractal::storage
