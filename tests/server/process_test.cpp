// The fractal-server binary: --help, refusing to start without a key, env
// fallbacks, SIGTERM -> clean exit 0.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>

#include "tests/server/server_test_env.h"
#include "tests/support/child_process.h"
#include "tests/support/free_port.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/shared_services.h"

namespace fractal::server::testing {
namespace {

std::string run_capture(const std::vector<std::string>& argv, int* status, const std::filesystem::path& dir) {
  const auto log = dir / "out.log";
  std::filesystem::remove(log);
  *status = test::run_to_completion(test::SpawnOptions{.argv = argv, .log_file = log}, std::chrono::seconds(20));
  return test::file_tail(log, 100000);
}

TEST(Process, HelpListsEveryOptionAndItsEnvironmentVariable) {
  const auto dir = test::make_scratch_dir("server-proc");
  int status = 0;
  const std::string out = run_capture({FRACTAL_SERVER_BINARY, "--help"}, &status, dir);
  EXPECT_TRUE(test::exited_ok(status)) << test::describe_wait_status(status);
  for (const char* flag : {"--port", "--bind", "--threads", "--pg", "--redis", "--data-dir", "--routes", "--quota",
                           "--token-ttl", "--dev"})
    EXPECT_NE(out.find(flag), std::string::npos) << flag;
  for (const char* env : {"FRACTAL_PORT", "FRACTAL_BIND", "FRACTAL_THREADS", "FRACTAL_PG", "FRACTAL_REDIS",
                          "FRACTAL_DATA_DIR", "FRACTAL_ROUTES", "FRACTAL_QUOTA", "FRACTAL_TOKEN_TTL", "FRACTAL_DEV",
                          "FRACTAL_JWT_SECRET", "FRACTAL_JWT_SECRET_FILE"})
    EXPECT_NE(out.find(env), std::string::npos) << env;
  test::remove_tree(dir);
}

TEST(Process, RefusesToStartWithoutAKey) {
  const auto dir = test::make_scratch_dir("server-proc");
  int status = 0;
  std::string out = run_capture(
      {"env", "-u", "FRACTAL_JWT_SECRET", "-u", "FRACTAL_JWT_SECRET_FILE", FRACTAL_SERVER_BINARY}, &status, dir);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << test::describe_wait_status(status) << out;
  EXPECT_NE(out.find("FRACTAL_JWT_SECRET"), std::string::npos) << out;
  out = run_capture({"env", "FRACTAL_JWT_SECRET=too-short", FRACTAL_SERVER_BINARY}, &status, dir);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << test::describe_wait_status(status) << out;
  EXPECT_NE(out.find("32 bytes"), std::string::npos) << out;
  out = run_capture({"env", "FRACTAL_ROUTES=everything", FRACTAL_SERVER_BINARY, "--dev"}, &status, dir);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << test::describe_wait_status(status) << out;
  EXPECT_NE(out.find("--routes"), std::string::npos) << out;
  test::remove_tree(dir);
}

TEST(Process, ServesFromEnvironmentAndExitsCleanlyOnSigterm) {
  const auto dir = test::make_scratch_dir("server-proc");
  const std::uint16_t p = test::free_tcp_port();
  const std::string redis = "127.0.0.1:" + std::to_string(test::shared_redis().port());
  test::ChildProcess child = test::ChildProcess::spawn(
      test::SpawnOptions{.argv = {"env", "FRACTAL_PORT=" + std::to_string(p), "FRACTAL_BIND=127.0.0.1",
                                  "FRACTAL_PG=" + test::shared_postgres().conninfo(), "FRACTAL_REDIS=" + redis,
                                  "FRACTAL_DATA_DIR=" + (dir / "data").string(), "FRACTAL_THREADS=2", "FRACTAL_QUOTA=7",
                                  "FRACTAL_JWT_SECRET=" + std::string(test_key().bytes()), FRACTAL_SERVER_BINARY},
                         .log_file = dir / "server.log"});
  const bool up = wait_until(
      [&] {
        try {
          const std::string raw =
              raw_exchange(p, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", std::chrono::seconds(2));
          return raw.rfind("HTTP/1.1 200", 0) == 0;
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(up) << test::file_tail(dir / "server.log");
  // A token of the in-process server works here: same key from the environment.
  const User u = new_user("proc");
  EXPECT_EQ(get("/tasks", u.token, p).status, 200);
  const std::string log_before = test::file_tail(dir / "server.log", 100000);
  EXPECT_NE(log_before.find("event=listening"), std::string::npos) << log_before;
  EXPECT_NE(log_before.find("quota=7"), std::string::npos) << log_before;

  child.send_signal(SIGTERM);
  ASSERT_TRUE(child.wait_for_exit(std::chrono::seconds(20)));
  ASSERT_TRUE(child.exit_status().has_value());
  EXPECT_TRUE(test::exited_ok(*child.exit_status()))
      << test::describe_wait_status(*child.exit_status()) << test::file_tail(dir / "server.log");
  const std::string log = test::file_tail(dir / "server.log", 100000);
  EXPECT_NE(log.find("event=shutdown_done"), std::string::npos) << log;
  test::remove_tree(dir);
}

TEST(Process, SigtermWhileWaitingForPostgresExitsPromptly) {
  const auto dir = test::make_scratch_dir("server-proc");
  const std::uint16_t nobody = test::free_tcp_port();  // nothing listens there
  test::ChildProcess child = test::ChildProcess::spawn(test::SpawnOptions{
      .argv = {FRACTAL_SERVER_BINARY, "--dev", "--port", "0", "--bind", "127.0.0.1", "--pg",
               "host=127.0.0.1 port=" + std::to_string(nobody) + " user=postgres dbname=fractal", "--redis",
               "127.0.0.1:" + std::to_string(test::shared_redis().port()), "--data-dir", (dir / "data").string()},
      .log_file = dir / "server.log"});
  ASSERT_TRUE(wait_until(
      [&] { return test::file_tail(dir / "server.log", 100000).find("event=startup_wait") != std::string::npos; },
      std::chrono::seconds(20)))
      << test::file_tail(dir / "server.log");
  const auto t0 = std::chrono::steady_clock::now();
  child.send_signal(SIGTERM);
  ASSERT_TRUE(child.wait_for_exit(std::chrono::seconds(10)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, test::sanitizer_scaled(std::chrono::seconds(3)));
  EXPECT_TRUE(test::exited_ok(*child.exit_status()))
      << test::describe_wait_status(*child.exit_status()) << test::file_tail(dir / "server.log");
  test::remove_tree(dir);
}

}  // namespace
}  // namespace fractal::server::testing
