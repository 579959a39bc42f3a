#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "storage/migrations.h"
#include "tests/storage/storage_test_env.h"
#include "tests/support/shared_services.h"

namespace fractal::storage {
namespace {

std::string fresh_database() {
  return test::shared_postgres().create_database(testing::unique_name("mig"));
}

TEST(Migrations, EmptyDatabaseGetsEveryVersion) {
  PgPool pool(fresh_database(), 2);
  EXPECT_EQ(schema_version(pool), 0);
  const MigrationReport r = migrate(pool);
  EXPECT_EQ(r.from_version, 0);
  EXPECT_EQ(r.to_version, migrations().back().version);
  EXPECT_EQ(r.applied.size(), migrations().size());
  EXPECT_EQ(schema_version(pool), migrations().back().version);
  const auto tables = pool.transact([](pqxx::work& tx) {
    return tx.exec("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN "
                   "('users', 'tasks', 'idempotency_keys', 'schema_migrations')")[0][0].as<int>();
  });
  EXPECT_EQ(tables, 4);
  const bool applied_at = pool.transact([](pqxx::work& tx) {
    return tx.exec("SELECT bool_and(applied_at IS NOT NULL) FROM schema_migrations")[0][0].as<bool>();
  });
  EXPECT_TRUE(applied_at);
}

TEST(Migrations, SecondRunIsANoOp) {
  PgPool pool(fresh_database(), 2);
  migrate(pool);
  const MigrationReport again = migrate(pool);
  EXPECT_TRUE(again.applied.empty());
  EXPECT_EQ(again.from_version, again.to_version);
  EXPECT_EQ(again.to_version, migrations().back().version);
}

TEST(Migrations, ConcurrentStartUpsApplyEachVersionOnce) {
  const std::string conninfo = fresh_database();
  constexpr int kProcesses = 4;
  std::vector<MigrationReport> reports(kProcesses);
  std::vector<std::string> errors(kProcesses);
  std::vector<std::thread> threads;
  for (int i = 0; i < kProcesses; ++i) {
    threads.emplace_back([&, i] {
      try {
        PgPool pool(conninfo, 1);
        reports[i] = migrate(pool);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::size_t applied = 0;
  for (int i = 0; i < kProcesses; ++i) {
    EXPECT_EQ(errors[i], "");
    applied += reports[i].applied.size();
  }
  EXPECT_EQ(applied, migrations().size());
}

TEST(Migrations, Version2CountsEachUsersUnfinishedTasks) {
  // A database at version 1 with tasks in every status, as an older build left it.
  PgPool pool(fresh_database(), 2);
  pool.transact([](pqxx::work& tx) {
    tx.exec(std::string(migrations()[0].sql));
    tx.exec("CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())");
    tx.exec("INSERT INTO schema_migrations (version, name) VALUES (1, 'v1')");
    tx.exec("INSERT INTO users (id, username, password_hash) VALUES"
            " ('00000000-0000-4000-8000-00000000000a', 'a', 'x'),"
            " ('00000000-0000-4000-8000-00000000000b', 'b', 'x'),"
            " ('00000000-0000-4000-8000-00000000000c', 'c', 'x')");
    tx.exec("INSERT INTO tasks (id, owner, params, status) VALUES"
            " ('10000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-00000000000a', '{}', 'queued'),"
            " ('10000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-00000000000a', '{}', 'running'),"
            " ('10000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-00000000000a', '{}', 'done'),"
            " ('10000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-00000000000b', '{}', 'failed'),"
            " ('10000000-0000-4000-8000-000000000005', '00000000-0000-4000-8000-00000000000b', '{}', 'canceled'),"
            " ('10000000-0000-4000-8000-000000000006', '00000000-0000-4000-8000-00000000000b', '{}', 'queued')");
    tx.exec("INSERT INTO idempotency_keys (owner, key, task_id) VALUES"
            " ('00000000-0000-4000-8000-00000000000a', 'k', '10000000-0000-4000-8000-000000000001')");
  });
  const MigrationReport r = migrate(pool);
  EXPECT_EQ(r.from_version, 1);
  EXPECT_NE(std::find(r.applied.begin(), r.applied.end(), 2), r.applied.end());
  const auto counts = pool.transact([](pqxx::work& tx) {
    std::vector<int> out;
    for (const auto& row : tx.exec("SELECT unfinished FROM users ORDER BY username")) out.push_back(row[0].as<int>());
    return out;
  });
  EXPECT_EQ(counts, (std::vector<int>{2, 1, 0}));
  // An old key names one task at position 0, as a single submission.
  const auto [position, single] = pool.transact([](pqxx::work& tx) {
    const pqxx::row row = tx.exec1("SELECT position, batch_size IS NULL FROM idempotency_keys");
    return std::pair{row[0].as<int>(), row[1].as<bool>()};
  });
  EXPECT_EQ(position, 0);
  EXPECT_TRUE(single);
}

TEST(Migrations, VersionsAreStrictlyIncreasing) {
  int last = 0;
  for (const auto& m : migrations()) {
    EXPECT_GT(m.version, last);
    last = m.version;
  }
}

}  // namespace
}  // namespace fractal::storage
