// The one Redis/Postgres address grammar (runtime/connection_options.h), and
// that fractal-server and fractal-worker read --redis / --pg the same way.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "runtime/connection_options.h"
#include "scheduler/cli_options.h"
#include "server/server_options.h"

namespace fractal::runtime {
namespace {

using namespace std::chrono_literals;

storage::RedisOptions parsed(std::string_view text) {
  const RedisAddress a = parse_redis_address(text);
  EXPECT_TRUE(a.ok()) << text << ": " << a.error;
  return a.options;
}

std::string error_of(std::string_view text) {
  const RedisAddress a = parse_redis_address(text);
  EXPECT_FALSE(a.ok()) << text << " was accepted";
  return a.error;
}

TEST(RedisAddress, PlainHostPort) {
  auto r = parsed("cache:6380");
  EXPECT_EQ(r.host, "cache");
  EXPECT_EQ(r.port, 6380);
  EXPECT_EQ(r.password, "");
  EXPECT_EQ(r.db, 0);
  EXPECT_EQ(parsed("cache").port, 6379);
  r = parsed("[::1]:7000");
  EXPECT_EQ(r.host, "::1");
  EXPECT_EQ(r.port, 7000);
  EXPECT_EQ(parsed("[::1]").port, 6379);
}

TEST(RedisAddress, UrlForms) {
  auto r = parsed("redis://:s3cret@10.0.0.5:6390/2");
  EXPECT_EQ(r.host, "10.0.0.5");
  EXPECT_EQ(r.port, 6390);
  EXPECT_EQ(r.user, "");
  EXPECT_EQ(r.password, "s3cret");
  EXPECT_EQ(r.db, 2);
  r = parsed("redis://alice:pw@cache/5");
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.password, "pw");
  EXPECT_EQ(r.port, 6379);
  EXPECT_EQ(r.db, 5);
  r = parsed("redis://cache:7000");
  EXPECT_EQ(r.host, "cache");
  EXPECT_EQ(r.port, 7000);
  EXPECT_EQ(r.db, 0);
  EXPECT_EQ(parsed("redis://cache/").db, 0);
  EXPECT_EQ(parsed("REDIS://cache").host, "cache");
  r = parsed("redis://:p%40ss%3Aw%2Fd@[::1]:6000/1");
  EXPECT_EQ(r.password, "p@ss:w/d") << "percent-encoded password";
  EXPECT_EQ(r.host, "::1");
  EXPECT_EQ(r.port, 6000);
  EXPECT_EQ(r.db, 1);
  EXPECT_EQ(parsed("redis://:a@b@cache").password, "a@b") << "the last '@' ends the user info";
}

TEST(RedisAddress, KeepsTimeoutsResetsTheRest) {
  storage::RedisOptions base;
  base.command_timeout = 1234ms;
  base.password = "old";
  base.db = 9;
  const RedisAddress a = parse_redis_address("cache", base);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.options.command_timeout, 1234ms);
  EXPECT_EQ(a.options.password, "");
  EXPECT_EQ(a.options.db, 0);
}

TEST(RedisAddress, ErrorsNameTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty"},
      {"cache:0", "port"},
      {"cache:65536", "port"},
      {"cache:abc", "port"},
      {"cache:", "no port"},
      {":6379", "no host"},
      {"redis://:pw@:6379", "no host"},
      {"redis://h:1/x", "database"},
      {"redis://h/-1", "database"},
      {"redis://secret@h", "password goes after ':'"},
      {"redis://:@h", "empty password"},
      {"redis://:p%zz@h", "%-escape in the password"},
      {"redis://u%g:p@h", "%-escape in the user"},
      {"redis://h?db=1", "query"},
      {"rediss://:pw@h:6380", "TLS"},
      {"http://h", "unknown scheme"},
      {"::1:6379", "brackets"},
      {"[::1:6379", "']'"},
      {"[::1]6379", "':'"},
      {":pw@h:6379", "URL form"},
      {"h:6379/2", "URL form"},
      {"ca che:1", "space"},
  };
  for (const auto& [text, needle] : cases) {
    const std::string e = error_of(text);
    EXPECT_NE(e.find(needle), std::string::npos) << text << " -> " << e;
  }
}

TEST(RedisAddress, ErrorsNeverShowThePassword) {
  for (const char* text : {"redis://:hunter2@h:0", "redis://bob:hunter2@h/x", "rediss://:hunter2@h", "redis://hunter2@h"}) {
    const std::string e = error_of(text);
    EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
    EXPECT_NE(e.find("***"), std::string::npos) << e;
  }
}

TEST(RedisAddress, DescribeHidesThePassword) {
  EXPECT_EQ(describe(parsed("redis://:hunter2@cache:7000/3")), "redis://:***@cache:7000/3");
  EXPECT_EQ(describe(parsed("redis://al:hunter2@[::1]")), "redis://al:***@[::1]:6379/0");
  EXPECT_EQ(describe(parsed("cache")), "redis://cache:6379/0");
}

TEST(PostgresConninfo, BothFormsAcceptedGarbageRefused) {
  EXPECT_EQ(check_postgres_conninfo(""), "");
  EXPECT_EQ(check_postgres_conninfo("host=db dbname=fractal user=fractal password=x"), "");
  EXPECT_EQ(check_postgres_conninfo("postgresql://fractal:x@db:5432/fractal?sslmode=disable"), "");
  EXPECT_EQ(check_postgres_conninfo("postgres://db/fractal"), "");
  EXPECT_NE(check_postgres_conninfo("host=db dbname"), "");
  EXPECT_NE(check_postgres_conninfo("nonsense_key=1"), "");
  EXPECT_NE(check_postgres_conninfo("postgresql://db/fractal?nosuchparam=1"), "");
}

// Both binaries: the same flags, environment variables, help text and errors.
struct BothBinaries {
  std::string server_error, worker_error;
  storage::RedisOptions server_redis, worker_redis;
  std::string server_pg, worker_pg;
  std::string server_help, worker_help;
};

BothBinaries parse_both(std::vector<std::string> args) {
  BothBinaries out;
  {
    server::ServerOptions o;
    server::CliValues v;
    CLI::App app{"fractal-server"};
    server::add_cli_options(app, o, v);
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
    out.server_error = server::finish_options(o, v);
    out.server_redis = o.redis;
    out.server_pg = o.pg_conninfo;
    out.server_help = app.help();
  }
  {
    std::vector<std::string> full = {"fractal-worker", "--data-dir", "/tmp/x"};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& a : full) argv.push_back(a.c_str());
    const scheduler::CommandLine cl = scheduler::parse_command_line(static_cast<int>(argv.size()), argv.data());
    out.worker_error = cl.exit_code ? cl.message : "";
    out.worker_redis = cl.options.redis;
    out.worker_pg = cl.options.pg_conninfo;
    const char* help_argv[] = {"fractal-worker", "--help"};
    out.worker_help = scheduler::parse_command_line(2, help_argv).message;
  }
  return out;
}

TEST(BothBinaries, ReadTheSameRedisUrl) {
  ::unsetenv("FRACTAL_REDIS");
  const BothBinaries b =
      parse_both({"--redis", "redis://alice:pw@redis.internal:6390/4", "--pg", "postgresql://u:p@db/fractal"});
  ASSERT_EQ(b.server_error, "");
  ASSERT_EQ(b.worker_error, "");
  for (const storage::RedisOptions* r : {&b.server_redis, &b.worker_redis}) {
    EXPECT_EQ(r->host, "redis.internal");
    EXPECT_EQ(r->port, 6390);
    EXPECT_EQ(r->user, "alice");
    EXPECT_EQ(r->password, "pw");
    EXPECT_EQ(r->db, 4);
  }
  EXPECT_EQ(b.server_pg, "postgresql://u:p@db/fractal");
  EXPECT_EQ(b.worker_pg, "postgresql://u:p@db/fractal");
  for (const std::string* help : {&b.server_help, &b.worker_help}) {
    EXPECT_NE(help->find("redis://[[user]:password@]host[:port][/db]"), std::string::npos) << *help;
    EXPECT_NE(help->find("postgresql://"), std::string::npos);
    EXPECT_NE(help->find("FRACTAL_REDIS"), std::string::npos);
  }
}

TEST(BothBinaries, ReadTheEnvironmentTheSameWay) {
  ::setenv("FRACTAL_REDIS", "redis://:envpw@envhost:7001/2", 1);
  const BothBinaries b = parse_both({"--pg", "host=db"});
  ::unsetenv("FRACTAL_REDIS");
  ASSERT_EQ(b.server_error, "");
  ASSERT_EQ(b.worker_error, "");
  EXPECT_EQ(b.server_redis.password, "envpw");
  EXPECT_EQ(b.worker_redis.password, "envpw");
  EXPECT_EQ(b.server_redis.host, b.worker_redis.host);
  EXPECT_EQ(b.server_redis.db, 2);
  EXPECT_EQ(b.worker_redis.db, 2);
}

TEST(BothBinaries, RefuseTheSameWayNamingTheFlag) {
  ::unsetenv("FRACTAL_REDIS");
  BothBinaries b = parse_both({"--redis", "rediss://:pw@h:6380"});
  EXPECT_NE(b.server_error.find("--redis: "), std::string::npos) << b.server_error;
  EXPECT_NE(b.server_error.find("TLS"), std::string::npos) << b.server_error;
  EXPECT_NE(b.worker_error.find(b.server_error), std::string::npos) << b.worker_error;
  b = parse_both({"--pg", "host=db dbname"});
  EXPECT_NE(b.server_error.find("--pg: "), std::string::npos) << b.server_error;
  EXPECT_NE(b.worker_error.find(b.server_error), std::string::npos) << b.worker_error;
}

}  // namespace
}  // namespace fractal::runtime
