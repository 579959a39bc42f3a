// fractal-server and fractal-worker against a Redis that requires a password,
// addressed as redis://:password@host:port/db: real Redis (requirepass), real
// Postgres, real HTTP, the real fractal-worker binary.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "auth/secret.h"
#include "runtime/connection_options.h"
#include "server/server.h"
#include "storage/errors.h"
#include "storage/redis.h"
#include "tests/support/child_process.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/shared_services.h"

namespace fractal::runtime {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kRedisPassword = "fr-pass-7aQ";
constexpr int kDb = 3;

std::string url_with(const test::TempRedis& redis, const std::string& password) {
  return "redis://:" + password + "@127.0.0.1:" + std::to_string(redis.port()) + "/" + std::to_string(kDb);
}

storage::RedisOptions admin_options(const test::TempRedis& redis, const std::string& password, int db = kDb) {
  storage::RedisOptions o;
  o.host = "127.0.0.1";
  o.port = redis.port();
  o.password = password;
  o.db = db;
  return o;
}

struct Http {
  std::uint16_t port;
  std::string token;
  httplib::Result get(const std::string& path) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10);
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return c.Get(path, h);
  }
  httplib::Result post(const std::string& path, const json& body) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10);
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return c.Post(path, h, body.dump(), "application/json");
  }
};

// A server configured through its command line, as fractal-server would be.
std::unique_ptr<server::Server> make_server(const std::string& redis_url, const std::filesystem::path& data_dir,
                                            std::chrono::seconds startup_timeout = 10s) {
  server::ServerOptions o;
  server::CliValues v;
  CLI::App app;
  server::add_cli_options(app, o, v);
  app.parse(std::vector<std::string>{"auth,tasks,images", "--routes", "2", "--threads", data_dir.string(),
                                     "--data-dir", "127.0.0.1", "--bind", "0", "--port",
                                     test::shared_postgres().conninfo(), "--pg", redis_url, "--redis"});
  const std::string error = server::finish_options(o, v);
  EXPECT_EQ(error, "");
  o.signing_key = auth::SigningKey(std::string("runtime-test-signing-key-0123456789abcdef"));
  o.startup_timeout = startup_timeout;
  o.shutdown_timeout = 10s;
  return std::make_unique<server::Server>(std::move(o));
}

std::string sign_up_and_in(Http& http) {
  static int n = 0;
  const std::string name = "rt" + std::to_string(::getpid()) + "_" + std::to_string(n++);
  const json creds = {{"username", name}, {"password", "correct-horse-battery"}};
  auto up = http.post("/sign-up", creds);
  EXPECT_TRUE(up && up->status == 201) << (up ? up->body : "no answer");
  auto in = http.post("/sign-in", creds);
  EXPECT_TRUE(in && in->status == 200) << (in ? in->body : "no answer");
  return in ? json::parse(in->body).value("access_token", "") : "";
}

test::ChildProcess start_worker(const std::filesystem::path& data_dir, const std::filesystem::path& log) {
  test::SpawnOptions spawn;
  spawn.argv = {FRACTAL_WORKER_BIN, "--backend", "cpu", "--threads", "1", "--block-ms", "100",
                "--data-dir", data_dir.string(), "--pg", test::shared_postgres().conninfo(), "--log-level", "debug"};
  spawn.log_file = log;
  spawn.parent_death_signal = SIGKILL;
  return test::ChildProcess::spawn(spawn);
}

bool wait_until(std::chrono::milliseconds timeout, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

class RedisPassword : public ::testing::Test {
 protected:
  void SetUp() override {
    test::shared_postgres();
    redis_ = std::make_unique<test::TempRedis>(test::TempRedis::Options{.password = kRedisPassword});
    data_dir_ = test::make_scratch_dir("runtime-data");
    log_dir_ = test::make_scratch_dir("runtime-logs");
  }
  void TearDown() override {
    ::unsetenv("FRACTAL_REDIS");
    redis_.reset();
    test::remove_tree(data_dir_);
    test::remove_tree(log_dir_);
  }

  std::unique_ptr<test::TempRedis> redis_;
  std::filesystem::path data_dir_;
  std::filesystem::path log_dir_;  // not in data_dir_: the worker's clean-up owns that
};

TEST_F(RedisPassword, ServerAndWorkerWorkThroughTheUrl) {
  const std::string url = url_with(*redis_, kRedisPassword);
  auto srv = make_server(url, data_dir_);
  Http http{srv->start(), ""};
  auto ready = http.get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;

  http.token = sign_up_and_in(http);
  auto added = http.post("/add", {{"width", 64}, {"height", 48}, {"max_iter", 50}});
  ASSERT_TRUE(added);
  ASSERT_EQ(added->status, 202) << added->body;
  const std::string id = json::parse(added->body).value("id", "");
  ASSERT_FALSE(id.empty()) << added->body;

  // The task went to the stream of db 3, with the password; db 0 has none.
  storage::RedisConnection in_db(admin_options(*redis_, kRedisPassword));
  EXPECT_EQ(in_db.command({"XLEN", "fractal:tasks"}).integer, 1);
  storage::RedisConnection db0(admin_options(*redis_, kRedisPassword, 0));
  EXPECT_EQ(db0.command({"EXISTS", "fractal:tasks"}).integer, 0);

  // The worker reads the same URL from FRACTAL_REDIS and renders the task.
  ::setenv("FRACTAL_REDIS", url.c_str(), 1);
  const auto log = log_dir_ / "worker.log";
  test::ChildProcess worker = start_worker(data_dir_, log);
  ::unsetenv("FRACTAL_REDIS");
  std::string status;
  const bool done = wait_until(60s, [&] {
    auto r = http.get("/tasks/" + id);
    if (r && r->status == 200) status = json::parse(r->body).value("status", "");
    return status == "done" || status == "failed" || !worker.running();
  });
  EXPECT_TRUE(done);
  EXPECT_EQ(status, "done") << test::file_tail(log, 4000);
  const std::string worker_log = test::file_tail(log, 100000);
  EXPECT_NE(worker_log.find("redis=redis://:***@127.0.0.1:"), std::string::npos) << worker_log;
  EXPECT_EQ(worker_log.find(kRedisPassword), std::string::npos) << "the password must not be logged";
  EXPECT_NE(worker_log.find("time="), std::string::npos) << "one time key for both binaries";

  worker.send_signal(SIGTERM);
  ASSERT_TRUE(worker.wait_for_exit(30s));
  EXPECT_TRUE(test::exited_ok(*worker.exit_status())) << test::describe_wait_status(*worker.exit_status());
  srv->shutdown();
}

TEST_F(RedisPassword, WrongPasswordAtStartIsAClearErrorNotACrash) {
  const std::string url = url_with(*redis_, "not-the-password");
  // Server: start-up waits for a usable Redis, then gives up with the reason.
  auto srv = make_server(url, data_dir_, 1s);
  try {
    srv->start();
    FAIL() << "start() succeeded with a wrong password";
  } catch (const storage::StorageUnavailable& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("WRONGPASS"), std::string::npos) << what;
    EXPECT_NE(what.find("--redis"), std::string::npos) << what;
  }

  // Worker: keeps running, reports the refused password, retries; SIGTERM still drains and exits 0.
  const auto log = log_dir_ / "worker.log";
  ::setenv("FRACTAL_REDIS", url.c_str(), 1);
  test::ChildProcess worker = start_worker(data_dir_, log);
  ::unsetenv("FRACTAL_REDIS");
  EXPECT_TRUE(wait_until(20s, [&] { return test::file_tail(log, 100000).find("WRONGPASS") != std::string::npos; }))
      << test::file_tail(log, 4000);
  EXPECT_TRUE(worker.running()) << test::file_tail(log, 4000);
  worker.send_signal(SIGTERM);
  ASSERT_TRUE(worker.wait_for_exit(30s));
  EXPECT_TRUE(test::exited_ok(*worker.exit_status())) << test::describe_wait_status(*worker.exit_status()) << "\n"
                                                       << test::file_tail(log, 4000);
}

TEST_F(RedisPassword, PasswordChangedUnderARunningServerGives503ThenRecovers) {
  auto srv = make_server(url_with(*redis_, kRedisPassword), data_dir_);
  Http http{srv->start(), ""};
  http.token = sign_up_and_in(http);
  auto ready = http.get("/readyz");
  ASSERT_TRUE(ready);
  ASSERT_EQ(ready->status, 200) << ready->body;

  // Rotate the password on Redis and drop every connection: the server's
  // reconnects now fail AUTH.
  {
    storage::RedisConnection admin(admin_options(*redis_, kRedisPassword, 0));
    admin.command({"CONFIG", "SET", "requirepass", "rotated-pw"});
    admin.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  }
  ready = http.get("/readyz");
  ASSERT_TRUE(ready) << "the server must still answer";
  EXPECT_EQ(ready->status, 503) << ready->body;
  const json body = json::parse(ready->body);
  EXPECT_EQ(body["error"]["code"], "not_ready") << ready->body;
  EXPECT_EQ(body["checks"]["redis"], "down") << ready->body;
  EXPECT_EQ(body["checks"]["postgres"], "ok") << ready->body;
  auto live = http.get("/livez");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);

  // Back to the configured password: ready again, without a restart.
  {
    storage::RedisConnection admin(admin_options(*redis_, "rotated-pw", 0));
    admin.command({"CONFIG", "SET", "requirepass", kRedisPassword});
  }
  ready = http.get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  srv->shutdown();
}

// An ACL user (Redis 6+): redis://user:password@host.
TEST_F(RedisPassword, AclUserAndPassword) {
  {
    storage::RedisConnection admin(admin_options(*redis_, kRedisPassword, 0));
    admin.command({"ACL", "SETUSER", "fractal", "on", ">user-pw", "~*", "&*", "+@all"});
  }
  const std::string base = "@127.0.0.1:" + std::to_string(redis_->port()) + "/1";
  const RedisAddress good = parse_redis_address("redis://fractal:user-pw" + base);
  ASSERT_TRUE(good.ok()) << good.error;
  storage::RedisConnection c(good.options);
  const std::string info = c.command({"CLIENT", "INFO"}).str;
  EXPECT_NE(info.find("user=fractal"), std::string::npos) << info;
  EXPECT_NE(info.find("db=1"), std::string::npos) << info;

  const RedisAddress bad = parse_redis_address("redis://fractal:nope" + base);
  ASSERT_TRUE(bad.ok()) << bad.error;
  storage::RedisConnection refused(bad.options);
  EXPECT_FALSE(refused.ping());
  try {
    refused.command({"PING"});
    FAIL() << "a wrong password was accepted";
  } catch (const storage::StorageUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("WRONGPASS"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fractal::runtime
