// Postgres going away and coming back. These tests own their server (not the
// shared one) because they stop it.
#include <gtest/gtest.h>

#include "storage/migrations.h"
#include "storage/tasks.h"
#include "storage/users.h"
#include "tests/storage/storage_test_env.h"
#include "tests/support/temp_postgres.h"

namespace fractal::storage {
namespace {

using namespace std::chrono_literals;
using testing::expect_unavailable;

TEST(PostgresFaults, StoppedServerIsStorageUnavailableAndRecoveryIsTransparent) {
  test::TempPostgres pg;
  PgPool pool(PgPoolOptions{.conninfo = pg.conninfo(), .size = 3, .acquire_timeout = 1000ms});
  migrate(pool);
  const std::string owner = testing::make_user(pool);
  TaskRepo repo(pool);
  const auto task = repo.create(owner, {{"width", 10}});
  ASSERT_EQ(task.outcome, CreateOutcome::created);
  // Warm every pooled connection so they all go stale together.
  {
    auto a = pool.acquire(), b = pool.acquire(), c = pool.acquire();
  }

  pg.stop();
  EXPECT_LT(expect_unavailable("postgres", [&] { (void)repo.get_by_id(task.task->id); }), 5000ms);
  EXPECT_LT(expect_unavailable("postgres", [&] { (void)repo.create(owner, {{"width", 11}}); }), 5000ms);
  EXPECT_LT(expect_unavailable("postgres", [&] { (void)UserRepo(pool).find_by_id(owner); }), 5000ms);
  EXPECT_FALSE(pool.ping());
  PgPool fresh(pg.conninfo(), 1);  // a process starting while Postgres is down
  EXPECT_LT(expect_unavailable("postgres", [&] { (void)fresh.acquire(); }), 5000ms);

  pg.start();
  // The first call after the restart succeeds: stale connections are replaced.
  const auto again = repo.get_by_id(task.task->id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, TaskStatus::queued);
  EXPECT_EQ(repo.create(owner, {{"width", 12}}).outcome, CreateOutcome::created);
  EXPECT_TRUE(pool.ping());
  EXPECT_TRUE(fresh.ping());
}

TEST(PostgresFaults, CrashedServerIsStorageUnavailableThenRecovers) {
  test::TempPostgres pg;
  PgPool pool(PgPoolOptions{.conninfo = pg.conninfo(), .size = 2, .acquire_timeout = 1000ms});
  migrate(pool);
  const std::string owner = testing::make_user(pool);
  TaskRepo repo(pool);
  const auto task = repo.create(owner, {{"width", 10}});
  ASSERT_EQ(task.outcome, CreateOutcome::created);

  pg.crash();  // immediate shutdown: crash recovery on the next start
  EXPECT_LT(expect_unavailable("postgres", [&] { (void)repo.list(owner); }), 5000ms);
  pg.start();
  const auto page = repo.list(owner);
  ASSERT_EQ(page.tasks.size(), 1u);  // committed before the crash: still there
  EXPECT_EQ(page.tasks[0].id, task.task->id);
}

TEST(PostgresFaults, TransactionBrokenMidwayIsRetriedOnAFreshConnection) {
  test::TempPostgres pg;
  PgPool pool(pg.conninfo(), 2);
  int calls = 0;
  const int pid = pool.transact([](pqxx::work& tx) { return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>(); });
  // The first attempt kills its own backend (as a server restart would); the
  // pool must run the function again on a new connection.
  const int result = pool.transact([&](pqxx::work& tx) {
    ++calls;
    const int me = tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
    if (calls == 1) {
      PgPool other(pg.conninfo(), 1);
      other.transact([&](pqxx::work& o) { o.exec_params("SELECT pg_terminate_backend($1)", me); });
      tx.exec("SELECT 1");  // fails: connection gone
    }
    return me;
  });
  EXPECT_EQ(calls, 2);
  EXPECT_NE(result, pid);
}

}  // namespace
}  // namespace fractal::storage
