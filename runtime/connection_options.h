// Where Postgres and Redis are: the one grammar both fractal-server and
// fractal-worker read from --pg / FRACTAL_PG and --redis / FRACTAL_REDIS.
//
// Redis:    redis://[[user]:password@]host[:port][/db]   (user and password percent-encoded)
//           host[:port] or [v6addr][:port]                (no password, db 0; kept for old configs)
//           rediss://... is refused: Debian's hiredis 0.14 has no TLS (hiredis_ssl came with 1.0).
// Postgres: a libpq conninfo ("host=db dbname=fractal") or a postgresql:// URI,
//           checked with libpq's own parser; empty: libpq's defaults (PGHOST, ...).
#pragma once

#include <string>
#include <string_view>

#include "storage/redis.h"

namespace CLI {
class App;
}

namespace fractal::runtime {

// --help texts, shared so both binaries describe the same grammar.
inline constexpr std::string_view kRedisHelp =
    "Redis: redis://[[user]:password@]host[:port][/db] (user and password percent-encoded), or host[:port] "
    "without password; rediss:// (TLS) is not supported by this build";
inline constexpr std::string_view kPostgresHelp =
    "Postgres: libpq conninfo (\"host=db dbname=fractal user=fractal\") or "
    "postgresql://[user[:password]@]host[:port]/dbname URI; empty: libpq's defaults (PGHOST, PGUSER, ...)";
inline constexpr std::string_view kDefaultRedis = "127.0.0.1:6379";

struct RedisAddress {
  storage::RedisOptions options;
  std::string error;  // empty when the address was good; names the part that is wrong, never the password
  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

// Parses one Redis address. Timeouts come from `base`; host, port, user,
// password and db come from `text` (db 0 and no password when it has none).
[[nodiscard]] RedisAddress parse_redis_address(std::string_view text, storage::RedisOptions base = {});

// The address for logs: redis://[user:***@]host:port/db (the password hidden).
[[nodiscard]] std::string describe(const storage::RedisOptions& redis);

// Empty when libpq accepts `conninfo` (either form); else libpq's reason.
[[nodiscard]] std::string check_postgres_conninfo(std::string_view conninfo);

// --pg and --redis with their environment variables and help texts, the same
// in both binaries. `redis_text` should start as kDefaultRedis.
void add_connection_options(CLI::App& app, std::string& pg_conninfo, std::string& redis_text);

// Checks the Postgres string and parses the Redis address into `redis`
// (keeping its timeouts). Returns "" or an error that starts with the flag:
// "--redis: ..." / "--pg: ...".
[[nodiscard]] std::string finish_connection_options(const std::string& pg_conninfo, const std::string& redis_text,
                                                    storage::RedisOptions& redis);

}  // namespace fractal::runtime
