// One Postgres and one Redis per test executable, started on first use and
// stopped at exit. Under ctest every discovered test is its own process, so a
// test that touches only Redis never pays for Postgres. Call these first from
// the main thread (a test body, SetUpTestSuite or a gtest Environment), not
// from a helper thread that ends before the process does (see TempPostgres).
#pragma once

#include "tests/support/temp_postgres.h"
#include "tests/support/temp_redis.h"

namespace fractal::test {

TempPostgres& shared_postgres();
TempRedis& shared_redis();

}  // namespace fractal::test
