#include "tests/storage/storage_test_env.h"

#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "storage/errors.h"
#include "storage/migrations.h"
#include "storage/users.h"
#include "tests/support/shared_services.h"

namespace fractal::storage::testing {

PgPool& shared_pool() {
  static PgPool pool = [] {
    return PgPool(PgPoolOptions{.conninfo = test::shared_postgres().conninfo(), .size = 8});
  }();
  static const bool migrated = [] {
    migrate(pool);
    return true;
  }();
  (void)migrated;
  return pool;
}

std::string unique_name(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = std::random_device{}() % 100000;
  return std::string(prefix) + "_" + std::to_string(getpid()) + "_" + std::to_string(salt) + "_" +
         std::to_string(counter++);
}

std::string make_user(PgPool& pool, std::string_view prefix) {
  UserRepo users(pool);
  auto r = users.create(unique_name(prefix), "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
  if (r.status != UserCreateStatus::created) throw std::runtime_error("make_user: name taken");
  return r.user->id;
}

RedisOptions redis_options(const test::TempRedis& redis) {
  RedisOptions o;
  o.host = redis.host();
  o.port = redis.port();
  return o;
}

QueueOptions unique_queue() {
  const std::string base = unique_name("q");
  return QueueOptions{.stream = base + ":tasks", .group = "renderers", .dead_stream = base + ":tasks:dead"};
}

std::chrono::milliseconds expect_unavailable(std::string_view service, const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  try {
    f();
    ADD_FAILURE() << "expected StorageUnavailable";
  } catch (const StorageUnavailable& e) {
    EXPECT_EQ(e.service(), service);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected StorageUnavailable, got: " << e.what();
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

}  // namespace fractal::storage::testing
