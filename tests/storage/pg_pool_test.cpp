#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "storage/pg_pool.h"
#include "tests/storage/storage_test_env.h"
#include "tests/support/free_port.h"
#include "tests/support/shared_services.h"

namespace fractal::storage {
namespace {

using namespace std::chrono_literals;

TEST(PgPool, TransactReturnsTheFunctionsResult) {
  PgPool pool(test::shared_postgres().conninfo(), 2);
  const int v = pool.transact([](pqxx::work& tx) { return tx.exec_params1("SELECT $1::int + 1", 41)[0].as<int>(); });
  EXPECT_EQ(v, 42);
  EXPECT_TRUE(pool.ping());
}

TEST(PgPool, WaitForAFreeConnectionIsBounded) {
  PgPool pool(PgPoolOptions{.conninfo = test::shared_postgres().conninfo(), .size = 2, .acquire_timeout = 200ms});
  auto a = pool.acquire();
  auto b = pool.acquire();
  const auto start = std::chrono::steady_clock::now();
  try {
    auto c = pool.acquire();
    FAIL() << "a third lease from a pool of two";
  } catch (const StorageUnavailable& e) {
    EXPECT_EQ(e.service(), "postgres");
    EXPECT_NE(std::string(e.what()).find("no free connection"), std::string::npos) << e.what();
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 190ms);
  EXPECT_LT(waited, 2s);
  { auto released = std::move(a); }
  auto c = pool.acquire();  // the returned one
  EXPECT_TRUE(c->is_open());
}

TEST(PgPool, ManyThreadsShareFewConnections) {
  PgPool pool(test::shared_postgres().conninfo(), 3);
  std::atomic<int> sum{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i)
        sum += pool.transact([](pqxx::work& tx) { return tx.exec("SELECT 1")[0][0].as<int>(); });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sum.load(), 200);
  EXPECT_LE(pool.open_connections(), 3u);
}

TEST(PgPool, UnreachableServerIsStorageUnavailableNotAHang) {
  const std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(test::free_tcp_port()) + " user=postgres dbname=fractal";
  PgPool pool(conninfo, 2);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(pool.transact([](pqxx::work& tx) { tx.exec("SELECT 1"); }), StorageUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_FALSE(pool.ping());
}

TEST(PgPool, SqlErrorsPassThroughAndTheConnectionStaysUsable) {
  PgPool pool(test::shared_postgres().conninfo(), 1);
  EXPECT_THROW(pool.transact([](pqxx::work& tx) { tx.exec("SELECT * FROM no_such_table"); }), pqxx::sql_error);
  EXPECT_THROW(pool.transact([](pqxx::work&) -> int { throw std::logic_error("mine"); }), std::logic_error);
  EXPECT_EQ(pool.transact([](pqxx::work& tx) { return tx.exec("SELECT 7")[0][0].as<int>(); }), 7);
}

TEST(PgPool, AKilledBackendIsReplacedOnTheNextBorrow) {
  PgPool pool(test::shared_postgres().conninfo(), 1);
  const int pid = pool.transact([](pqxx::work& tx) { return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>(); });
  PgPool admin(test::shared_postgres().conninfo(), 1);
  admin.transact([&](pqxx::work& tx) { tx.exec_params("SELECT pg_terminate_backend($1)", pid); });
  // The pooled connection is dead now; the caller must not notice.
  const int next = pool.transact([](pqxx::work& tx) { return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>(); });
  EXPECT_NE(next, pid);
}

TEST(PgPool, ConnectTimeoutIsAddedToConninfo) {
  // A URI works as well as key=value.
  const auto& pg = test::shared_postgres();
  PgPool pool("postgresql://postgres@127.0.0.1:" + std::to_string(pg.port()) + "/fractal", 1);
  EXPECT_TRUE(pool.ping());
}

}  // namespace
}  // namespace fractal::storage
