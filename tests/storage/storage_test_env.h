// Shared pieces of the storage tests: the per-executable Postgres pool
// (migrated once), unique names so tests sharing a server never collide, and
// a wait-for-condition helper instead of sleeps.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "storage/pg_pool.h"
#include "storage/redis.h"
#include "tests/support/temp_redis.h"
#include "tests/support/wait_until.h"

namespace fractal::storage::testing {

// Pool of 8 over fractal::test::shared_postgres(), schema migrated.
PgPool& shared_pool();
// prefix + a value unique within this machine and run.
std::string unique_name(std::string_view prefix);
// A user with a unique name; returns its id.
std::string make_user(PgPool& pool, std::string_view prefix = "user");

RedisOptions redis_options(const test::TempRedis& redis);
// Stream, group and dead stream names unique to one test.
QueueOptions unique_queue();

// Polls `condition` (1 ms growing to 20 ms) until true or `timeout`.
// Runs f, expects StorageUnavailable naming `service`, returns how long the failure took.
std::chrono::milliseconds expect_unavailable(std::string_view service, const std::function<void()>& f);

using fractal::test::wait_until;  // tests/support/wait_until.h

}  // namespace fractal::storage::testing
