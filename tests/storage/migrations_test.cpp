#include <gtest/gtest.h>

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

TEST(Migrations, VersionsAreStrictlyIncreasing) {
  int last = 0;
  for (const auto& m : migrations()) {
    EXPECT_GT(m.version, last);
    last = m.version;
  }
}

}  // namespace
}  // namespace fractal::storage
