// Postgres or Redis down: /readyz says which, API calls answer 503 JSON
// quickly (no 500, no hang), and everything recovers when they are back.
#include "tests/server/server_test_env.h"
#include "tests/support/shared_services.h"

namespace fractal::server::testing {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

TEST(Faults, PostgresDownThenBack) {
  const User u = new_user("pgdown");
  const std::string id = add_task(u)["id"];
  test::TempPostgres& pg = test::shared_postgres();
  pg.stop();
  struct Restart {
    test::TempPostgres& pg;
    ~Restart() {
      if (!pg.running()) pg.start();
    }
  } restart{pg};

  const Response ready = get("/readyz");
  expect_error(ready, 503, "not_ready");
  EXPECT_NE(ready.j["error"]["message"].get<std::string>().find("postgres"), std::string::npos) << ready.body;
  EXPECT_EQ(ready.j["checks"]["postgres"], "down");
  EXPECT_EQ(ready.j["checks"]["redis"], "ok");

  const auto t0 = Clock::now();
  for (const Response& r :
       {get("/tasks", u.token), get("/tasks/" + id, u.token), post_json("/add", small_task(), u.token),
        get("/download?id=" + id, u.token), del("/tasks/" + id, u.token), get("/stats", u.token),
        post_json("/sign-up", {{"username", unique_username()}, {"password", kPassword}}),
        post_json("/sign-in", {{"username", u.name}, {"password", kPassword}})}) {
    expect_error(r, 503, "service_unavailable");
    EXPECT_NE(r.j["error"]["message"].get<std::string>().find("postgres"), std::string::npos) << r.body;
    EXPECT_TRUE(r.has_header("Retry-After"));
  }
  EXPECT_LT(seconds_since(t0), 20.0 * test::kSanitizerSlowdown);  // bounded waits, no hang
  EXPECT_EQ(get("/livez").status, 200);
  const Response metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("fractal_dependency_up{service=\"postgres\"} 0"), std::string::npos) << metrics.body;

  pg.start();
  EXPECT_TRUE(wait_until([] { return get("/readyz").status == 200; }, std::chrono::seconds(20)));
  EXPECT_EQ(get("/tasks/" + id, u.token).status, 200);
  EXPECT_EQ(post_json("/add", small_task(), u.token).status, 202);
}

TEST(Faults, RedisDownThenBack) {
  const User u = new_user("redisdown");
  test::TempRedis& redis = test::shared_redis();
  redis.stop();
  struct Restart {
    test::TempRedis& redis;
    ~Restart() {
      if (!redis.running()) redis.start();
    }
  } restart{redis};

  const Response ready = get("/readyz");
  expect_error(ready, 503, "not_ready");
  EXPECT_NE(ready.j["error"]["message"].get<std::string>().find("redis"), std::string::npos) << ready.body;
  EXPECT_EQ(ready.j["checks"]["redis"], "down");
  EXPECT_EQ(ready.j["checks"]["postgres"], "ok");

  // Tokens cannot be checked against the revocation list, sign-in attempts
  // cannot be counted: 503, never "assume not revoked".
  for (const Response& r :
       {get("/tasks", u.token), post_json("/sign-in", {{"username", u.name}, {"password", kPassword}})}) {
    expect_error(r, 503, "service_unavailable");
    EXPECT_NE(r.j["error"]["message"].get<std::string>().find("redis"), std::string::npos) << r.body;
  }
  EXPECT_EQ(get("/metrics").status, 200);

  redis.start();
  EXPECT_TRUE(wait_until([] { return get("/readyz").status == 200; }, std::chrono::seconds(20)));
  EXPECT_EQ(get("/tasks", u.token).status, 200);
  // The queue group is re-created on demand after Redis lost its data.
  EXPECT_EQ(post_json("/add", small_task(), u.token).status, 202);
}

}  // namespace
}  // namespace fractal::server::testing
