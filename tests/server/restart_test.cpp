// Redis and Postgres restarting under load. Redis with a large append-only
// file answers every command with `-LOADING` for a while after it starts;
// Postgres answers 57P03/57P01 or refuses connections while it restarts. The
// rule: every answer is a success or a 503 JSON error with Retry-After, never a
// 500; a server started while Redis loads comes up once it is loaded.
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "tests/server/server_test_env.h"
#include "tests/support/shared_services.h"
#include "tests/support/temp_redis.h"

namespace fractal::server::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Keys written into the AOF before the restart: ~25 MB in command form, which
// takes Redis about half a second to load here (the window the test needs).
constexpr std::size_t kFillKeys = 500'000;

test::TempRedis::Options loading_redis_options() {
  test::TempRedis::Options o;
  o.append_only = true;
  o.extra_args = {"--auto-aof-rewrite-percentage", "0", "--appendfsync", "always"};
  o.start_timeout = std::chrono::seconds(60);
  return o;
}

// Answers of a load run, checked against the rule above.
struct Tally {
  std::mutex mutex;
  std::map<int, int> by_status;
  std::vector<std::string> violations;  // anything but 2xx or 503 JSON + Retry-After

  void record(const Response& r, const std::string& what) {
    std::lock_guard lock(mutex);
    ++by_status[r.status];
    if (r.status >= 200 && r.status < 300) return;
    const bool json_503 = r.status == 503 && r.j.is_object() && r.j.contains("error") &&
                          r.j["error"].value("code", "") == "service_unavailable" && r.has_header("Retry-After");
    if (!json_503 && violations.size() < 10) violations.push_back(what + " -> " + std::to_string(r.status) + " " + r.body);
  }
  int count(int status) {
    std::lock_guard lock(mutex);
    return by_status[status];
  }
  std::string summary() {
    std::lock_guard lock(mutex);
    std::string s;
    for (const auto& [status, n] : by_status) s += std::to_string(status) + ":" + std::to_string(n) + " ";
    return s;
  }
};

// Threads sending authenticated reads and submits until stopped.
class Load {
 public:
  Load(const User& user, std::uint16_t on_port, Tally& tally, int threads = 3) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, user, on_port, &tally, t] {
        for (int i = 0; !stop_; ++i) {
          if ((i + t) % 2 == 0) {
            tally.record(get("/tasks?limit=5", user.token, on_port), "GET /tasks");
          } else {
            tally.record(post_json("/add", small_task(), user.token, on_port), "POST /add");
          }
          ++sent_;
        }
      });
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  int sent() const { return sent_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
  std::vector<std::thread> threads_;
};

ServerOptions options_on(const test::TempRedis& redis) {
  ServerOptions o = base_options();
  o.redis.host = redis.host();
  o.redis.port = redis.port();
  o.quota = 1'000'000;  // the load submits many tasks; the quota is not under test here
  o.startup_timeout = std::chrono::seconds(60);
  return o;
}

// Redis' own log says how long the load took ("DB loaded from append only file: 0.512 seconds").
std::string loaded_line(const test::TempRedis& redis) {
  const std::string log = redis.log_tail(20000);
  const auto at = log.rfind("DB loaded from append only file");
  return at == std::string::npos ? std::string("(no load line)") : log.substr(at, log.find('\n', at) - at);
}

TEST(Restarts, RedisLoadingIsAnOutageNotAnError) {
  test::TempRedis redis(loading_redis_options());
  redis.populate(kFillKeys);
  Server own(options_on(redis));
  const std::uint16_t on_port = own.start();
  const User u = new_user("loading");
  ASSERT_EQ(get("/tasks", u.token, on_port).status, 200);

  Tally tally;
  {
    Load load(u, on_port, tally);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    redis.stop();
    redis.start_no_wait();
    // While it loads: /readyz is 503 naming Redis (PING answers LOADING), never 200 or 500.
    int readyz_503 = 0;
    while (true) {
      const Response r = get("/readyz", std::nullopt, on_port);
      if (r.status == 200) break;
      ASSERT_EQ(r.status, 503) << r.body;
      EXPECT_EQ(r.j["checks"]["redis"], "down") << r.body;
      ++readyz_503;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    redis.wait_ready();
    EXPECT_GT(readyz_503, 0) << "Redis never looked unavailable; " << loaded_line(redis);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_TRUE(tally.violations.empty()) << ::testing::PrintToString(tally.violations);
  EXPECT_EQ(tally.count(500), 0) << tally.summary();
  EXPECT_GT(tally.count(503), 0) << "the restart window was not hit: " << tally.summary() << loaded_line(redis);
  EXPECT_GT(tally.count(202), 0) << tally.summary();
  // And afterwards everything works again.
  EXPECT_EQ(get("/tasks", u.token, on_port).status, 200);
  EXPECT_EQ(post_json("/add", small_task(), u.token, on_port).status, 202);
  std::cout << "answers: " << tally.summary() << "| " << loaded_line(redis) << "\n";
}

TEST(Restarts, ServerStartedWhileRedisLoadsComesUp) {
  test::TempRedis redis(loading_redis_options());
  redis.populate(kFillKeys);
  redis.stop();
  redis.start_no_wait();
  // Start-up (XGROUP CREATE, ...) meets LOADING: it waits instead of failing.
  Server own(options_on(redis));
  const std::uint16_t on_port = own.start();
  EXPECT_TRUE(wait_until([&] { return get("/readyz", std::nullopt, on_port).status == 200; }, std::chrono::seconds(60)))
      << loaded_line(redis);
  const User u = new_user("lateredis");
  EXPECT_EQ(post_json("/add", small_task(), u.token, on_port).status, 202);
}

TEST(Restarts, PostgresRestartUnderLoad) {
  Server own(options_on(test::shared_redis()));
  const std::uint16_t on_port = own.start();
  const User u = new_user("pgrestart");
  test::TempPostgres& pg = test::shared_postgres();
  Tally tally;
  {
    Load load(u, on_port, tally);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    pg.stop();  // pg_ctl stop -m fast: clients are disconnected (57P01)
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    pg.start();
    EXPECT_TRUE(
        wait_until([&] { return get("/readyz", std::nullopt, on_port).status == 200; }, std::chrono::seconds(30)));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_TRUE(tally.violations.empty()) << ::testing::PrintToString(tally.violations);
  EXPECT_EQ(tally.count(500), 0) << tally.summary();
  EXPECT_GT(tally.count(503), 0) << "the restart window was not hit: " << tally.summary();
  EXPECT_GT(tally.count(202), 0) << tally.summary();
  EXPECT_EQ(get("/tasks", u.token, on_port).status, 200);
  std::cout << "answers: " << tally.summary() << "\n";
}

}  // namespace
}  // namespace fractal::server::testing
