#include <gtest/gtest.h>

#include "storage/redis.h"
#include "tests/storage/storage_test_env.h"
#include "tests/support/shared_services.h"

namespace fractal::storage {
namespace {

using namespace std::chrono_literals;
using testing::unique_name;

RedisKv kv() { return RedisKv(testing::redis_options(test::shared_redis())); }

TEST(RedisKv, CounterWithAFixedWindow) {
  RedisKv store = kv();
  const std::string key = unique_name("signin:fail");
  EXPECT_FALSE(store.get_int(key));
  EXPECT_FALSE(store.ttl(key));
  EXPECT_EQ(store.incr_with_expiry(key, 900s), 1);
  EXPECT_EQ(store.incr_with_expiry(key, 900s), 2);
  EXPECT_EQ(store.incr_with_expiry(key, 5000s), 3);  // a later call does not extend the window
  EXPECT_EQ(store.get_int(key), 3);
  const auto ttl = store.ttl(key);
  ASSERT_TRUE(ttl);
  EXPECT_GT(*ttl, 890s);
  EXPECT_LE(*ttl, 900s);
  EXPECT_TRUE(store.del(key));
  EXPECT_FALSE(store.del(key));
  EXPECT_FALSE(store.get_int(key));
}

TEST(RedisKv, CounterWithoutTtlGetsOne) {
  RedisKv store = kv();
  const std::string key = unique_name("signin:fail");
  RedisConnection(testing::redis_options(test::shared_redis())).command({"SET", key, "4"});  // no expiry
  EXPECT_FALSE(store.ttl(key));
  EXPECT_EQ(store.incr_with_expiry(key, 60s), 5);
  EXPECT_TRUE(store.ttl(key));
}

TEST(RedisKv, RevokedTokenFlags) {
  RedisKv store = kv();
  const std::string key = unique_name("revoked:jti");
  EXPECT_FALSE(store.exists(key));
  store.set_with_expiry(key, "1", 3600s);
  EXPECT_TRUE(store.exists(key));
  const auto ttl = store.ttl(key);
  ASSERT_TRUE(ttl);
  EXPECT_GT(*ttl, 3590s);
  store.set_with_expiry(key + ":short", "1", 0s);  // raised to one second, never "no expiry"
  EXPECT_TRUE(store.ttl(key + ":short"));
  EXPECT_TRUE(store.ping());
}

TEST(RedisKv, NonNumericValueIsNotACount) {
  RedisKv store = kv();
  const std::string key = unique_name("text");
  store.set_with_expiry(key, "12abc", 60s);
  EXPECT_FALSE(store.get_int(key));
  EXPECT_THROW(store.incr_with_expiry(key, 60s), RedisError);
}

}  // namespace
}  // namespace fractal::storage
