// Everything the server is configured with, and the command line that fills
// it (CLI11; every flag has an environment variable fallback, listed by --help).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "auth/secret.h"
#include "storage/redis.h"
#include "storage/redis_keys.h"

namespace CLI {
class App;
}

namespace fractal::server {

// Route groups (--routes): auth = sign-up/in/out, tasks = add/delete/tasks/
// stats/palettes, images = download, web = the browser client at GET /
// (served only when a web directory is known). livez/readyz/metrics are always served.
struct RouteGroups {
  bool auth = true;
  bool tasks = true;
  bool images = true;
  bool web = true;
};

// "all" or a comma list of auth,tasks,images,web; nullopt (and *error) otherwise.
std::optional<RouteGroups> parse_route_groups(std::string_view text, std::string* error = nullptr);
std::string to_string(const RouteGroups& groups);

struct ServerOptions {
  std::string bind = "0.0.0.0";
  std::uint16_t port = 8080;  // 0: any free port (tests)
  int threads = 0;            // 0: hardware cores
  std::string pg_conninfo;    // libpq conninfo or postgresql:// URI; empty: libpq defaults (PGHOST, ...)
  // Every Redis client of the server (queue, auth, metrics, tiles) uses this:
  // host, port, user, password, db (runtime/connection_options.h).
  storage::RedisOptions redis;
  std::filesystem::path data_dir = "data";
  RouteGroups routes;
  // The built web client (web/dist) served by the `web` group; empty: none.
  // main fills it from --web-dir or server/web_resource.h default_web_dir().
  std::filesystem::path web_dir;
  std::int64_t quota = 100;  // unfinished tasks per user; <= 0: unlimited
  std::chrono::seconds token_ttl{3600};
  bool dev = false;
  // After shutdown begins, /readyz answers 503 for this long before the
  // listener closes (lets a load balancer stop sending traffic).
  std::chrono::seconds drain{0};
  // Longest wait for in-flight requests once the listener is closing.
  std::chrono::seconds shutdown_timeout{30};
  // Postgres/Redis may come up after the server: retry migrations this long.
  std::chrono::seconds startup_timeout{30};
  std::size_t pg_pool_size = 0;  // 0: threads + 2
  // POST /add group commit (server/submit_batcher.h): executor threads (each
  // commits one group at a time; 0: half the Postgres pool, at least 1), the
  // most submissions per group, and how long the oldest one waits for company.
  std::size_t submit_executors = 0;
  std::size_t submit_max_group = 64;
  std::chrono::microseconds submit_window{1000};
  // Tiles (GET /tiles/...): longest wait for a render before 503 busy, the
  // shared cache's bound in PNG bytes, tile renders waiting per user before 429.
  std::chrono::milliseconds tile_timeout{10000};
  std::int64_t tile_cache_bytes = std::int64_t{1} << 30;
  int tile_max_in_flight = 64;
  std::string tile_prefix{storage::keys::kTilePrefix};  // Redis keys of the tile lane (storage/tile_queue.h)
  // Threads that hold requests waiting for a render (Reply::deferred) so the
  // HTTP threads never block: the most tile misses waiting at once, all users.
  int waiter_threads = 256;
  std::string log_level = "info";
  std::optional<auth::SigningKey> signing_key;  // required by Server; main loads it
};

// Registers every option on `app`, writing into `options`. After a successful
// parse, call finish_options() to resolve the string-typed ones.
struct CliValues {
  std::string routes = "all";
  std::string redis = "127.0.0.1:6379";  // runtime::parse_redis_address grammar
  std::int64_t token_ttl = 3600;
  std::int64_t drain = 0;
  std::int64_t tile_timeout_ms = 10000;
  std::string web_dir;  // --web-dir; empty: default_web_dir()
};
void add_cli_options(CLI::App& app, ServerOptions& options, CliValues& values);
// Resolves routes/redis/ttl; returns an error message (empty when fine).
std::string finish_options(ServerOptions& options, const CliValues& values);

}  // namespace fractal::server
