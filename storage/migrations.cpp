#include "storage/migrations.h"

#include <algorithm>
#include <array>

namespace fractal::storage {
namespace {

// pg_advisory_xact_lock key: "fractal" in ASCII. Held until the transaction ends.
constexpr long long kMigrationLockKey = 0x6672616374616cLL;

constexpr std::string_view kV1 = R"sql(
CREATE TABLE users (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username       text NOT NULL,
  username_lower text GENERATED ALWAYS AS (lower(username)) STORED UNIQUE,
  password_hash  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  params         jsonb NOT NULL,
  status         text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'done', 'failed', 'canceled')),
  progress       double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
  -- clock_timestamp(): tasks created in one transaction still get distinct times.
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_at     timestamptz,
  finished_at    timestamptz,
  error          text,
  backend        text,
  precision_used text,
  iterations     bigint,
  render_ms      bigint,
  file_path      text,
  file_size      bigint,
  attempts       int NOT NULL DEFAULT 0,
  worker         text
);
-- GET /tasks: newest first, keyset pagination on (created_at, id).
CREATE INDEX tasks_owner_created_idx ON tasks (owner, created_at DESC, id DESC);
-- Quota check and the reconciler only look at unfinished tasks.
CREATE INDEX tasks_unfinished_idx ON tasks (owner, created_at) WHERE status IN ('queued', 'running');

CREATE TABLE idempotency_keys (
  owner      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  -- Deleting the task forgets the key: a retry after DELETE creates a new task.
  task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_keys_task_idx ON idempotency_keys (task_id);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
)sql";

// The quota check reads one counter instead of counting the owner's tasks:
// users.unfinished = the owner's queued + running tasks, maintained by every
// TaskRepo transaction that creates tasks or moves them to done, failed,
// canceled or deleted (under the owner row's lock). Initialised from the
// tasks table here, inside the migration's transaction; the ALTER TABLE holds
// users exclusively meanwhile, so no create slips in between.
// An Idempotency-Key may now name a whole batch: one row per task, by position;
// batch_size is NULL for a single submission (every row before this version).
constexpr std::string_view kV2 = R"sql(
ALTER TABLE users ADD COLUMN unfinished integer NOT NULL DEFAULT 0 CHECK (unfinished >= 0);
UPDATE users u SET unfinished = c.n
  FROM (SELECT owner, count(*) AS n FROM tasks WHERE status IN ('queued', 'running') GROUP BY owner) c
 WHERE u.id = c.owner;

ALTER TABLE idempotency_keys
  ADD COLUMN position   integer NOT NULL DEFAULT 0 CHECK (position >= 0),
  ADD COLUMN batch_size integer CHECK (batch_size >= 1);
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (owner, key, position);
)sql";

// Figures of a deep render (reference orbit length, BLA skip ratio, time in
// the orbit vs per-pixel work), written with the rest of the outcome when the
// task is done; NULL for every other task. One JSON object, so the worker can
// report another figure without a schema change.
constexpr std::string_view kV3 = R"sql(
ALTER TABLE tasks ADD COLUMN deep jsonb CHECK (deep IS NULL OR jsonb_typeof(deep) = 'object');
)sql";

constexpr std::array<Migration, 3> kMigrations{{
    {1, "users, tasks, idempotency keys", kV1},
    {2, "unfinished-task counter per user, batch idempotency keys", kV2},
    {3, "deep render figures of a task", kV3},
}};

int max_version(pqxx::work& tx) {
  return tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

MigrationReport migrate(PgPool& pool) {
  return pool.transact([](pqxx::work& tx) {
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "  version    int PRIMARY KEY,"
        "  name       text NOT NULL,"
        "  applied_at timestamptz NOT NULL DEFAULT now())");
    MigrationReport report;
    report.from_version = max_version(tx);
    report.to_version = report.from_version;
    for (const Migration& m : kMigrations) {
      if (m.version <= report.from_version) continue;
      tx.exec(std::string(m.sql));
      tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, std::string(m.name));
      report.applied.push_back(m.version);
      report.to_version = m.version;
    }
    return report;
  });
}

int schema_version(PgPool& pool) {
  return pool.transact([](pqxx::work& tx) {
    const bool exists = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL")[0][0].as<bool>();
    return exists ? max_version(tx) : 0;
  });
}

}  // namespace fractal::storage
