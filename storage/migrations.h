// Versioned schema migrations, applied at start-up by every process that uses
// the database (server and workers): whoever comes first applies the pending
// ones, the others wait on the advisory lock and then find nothing to do.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "storage/pg_pool.h"

namespace fractal::storage {

struct Migration {
  int version;            // 1, 2, 3, ... never reused or edited once released
  std::string_view name;
  std::string_view sql;   // one or more statements
};

// All migrations of this build, in version order.
std::span<const Migration> migrations();

struct MigrationReport {
  int from_version = 0;       // schema version found (0: empty database)
  int to_version = 0;         // schema version now
  std::vector<int> applied;   // versions applied by this call
};

// Applies the pending migrations in one transaction under an advisory lock:
// all of them or none. A database already newer than this build is left alone
// (to_version then reports its version). Throws StorageUnavailable or pqxx errors.
MigrationReport migrate(PgPool& pool);

// Highest applied version, 0 when none.
int schema_version(PgPool& pool);

}  // namespace fractal::storage
