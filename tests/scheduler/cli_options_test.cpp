#include <gtest/gtest.h>

#include <cstdlib>

#include "scheduler/cli_options.h"

namespace fractal::scheduler {
namespace {

using namespace std::chrono_literals;

CommandLine parse(std::vector<std::string> args) {
  args.insert(args.begin(), "fractal-worker");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

TEST(CommandLine, FlagsWithDefaults) {
  ::unsetenv("FRACTAL_BATCH");
  const auto cl = parse({"--pg", "host=db", "--data-dir", "/tmp/img", "--redis", "r:7", "--claim-timeout", "2.5"});
  ASSERT_FALSE(cl.exit_code) << cl.message;
  const WorkerOptions& o = cl.options;
  EXPECT_EQ(o.pg_conninfo, "host=db");
  EXPECT_EQ(o.redis.host, "r");
  EXPECT_EQ(o.redis.port, 7);
  EXPECT_EQ(o.data_dir, "/tmp/img");
  EXPECT_EQ(o.claim_timeout, 2500ms);
  EXPECT_EQ(o.batch, 32u);
  EXPECT_EQ(o.block, 1000ms);
  EXPECT_EQ(o.max_deliveries, 3);
  EXPECT_EQ(o.reconcile_interval, 10s);
  EXPECT_EQ(o.encode_threads, 2);
  EXPECT_EQ(o.png_compression, 1);
  EXPECT_EQ(o.backend, BackendKind::automatic);
  EXPECT_EQ(o.queue.stream, "fractal:tasks");
  EXPECT_EQ(o.queue.dead_stream, "fractal:tasks:dead");
  EXPECT_FALSE(o.name.empty()) << "defaults to hostname-pid";
}

TEST(CommandLine, EnvironmentFillsWhatFlagsLeaveOut) {
  ::setenv("FRACTAL_PG", "host=env", 1);
  ::setenv("FRACTAL_DATA_DIR", "/tmp/env", 1);
  ::setenv("FRACTAL_BATCH", "7", 1);
  ::setenv("FRACTAL_BACKEND", "cpu", 1);
  ::setenv("FRACTAL_WORKER_NAME", "w-env", 1);
  auto cl = parse({"--batch", "9"});
  ::unsetenv("FRACTAL_PG");
  ::unsetenv("FRACTAL_DATA_DIR");
  ::unsetenv("FRACTAL_BATCH");
  ::unsetenv("FRACTAL_BACKEND");
  ::unsetenv("FRACTAL_WORKER_NAME");
  ASSERT_FALSE(cl.exit_code) << cl.message;
  EXPECT_EQ(cl.options.pg_conninfo, "host=env");
  EXPECT_EQ(cl.options.data_dir, "/tmp/env");
  EXPECT_EQ(cl.options.batch, 9u) << "the flag wins";
  EXPECT_EQ(cl.options.backend, BackendKind::cpu);
  EXPECT_EQ(cl.options.name, "w-env");
}

TEST(CommandLine, BadInputExitsWithStatus2AndAMessage) {
  auto cl = parse({"--data-dir", "/tmp/x", "--pg", "host=db dbname"});  // libpq refuses it, before any connection
  ASSERT_TRUE(cl.exit_code);
  EXPECT_EQ(*cl.exit_code, 2);
  EXPECT_NE(cl.message.find("--pg: "), std::string::npos) << cl.message;
  cl = parse({"--pg", "x", "--data-dir", "/tmp/x", "--backend", "tpu"});
  EXPECT_EQ(cl.exit_code, 2);
  cl = parse({"--pg", "x", "--data-dir", "/tmp/x", "--batch", "0"});
  EXPECT_EQ(cl.exit_code, 2);
  cl = parse({"--pg", "x", "--data-dir", "/tmp/x", "--redis", "h:0"});
  EXPECT_EQ(cl.exit_code, 2);
  cl = parse({"--help"});
  EXPECT_EQ(cl.exit_code, 0);
  EXPECT_NE(cl.message.find("FRACTAL_CLAIM_TIMEOUT"), std::string::npos);
}

TEST(WorkerOptions, DerivedTimings) {
  WorkerOptions o;
  EXPECT_EQ(o.touch_interval(), 5s);  // 30 s / 3, capped at 5 s
  EXPECT_EQ(o.autoclaim_interval(), 2s);
  EXPECT_EQ(o.reconcile_grace(), 10s);
  o.claim_timeout = 1500ms;
  EXPECT_EQ(o.touch_interval(), 500ms);
  EXPECT_EQ(o.lease_ttl(), 1500ms);
  EXPECT_LT(o.touch_interval(), o.lease_ttl());
}

}  // namespace
}  // namespace fractal::scheduler
