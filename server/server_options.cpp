#include "server/server_options.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <system_error>
#include <thread>

#include "runtime/connection_options.h"
#include "server/web_resource.h"

namespace fractal::server {

std::optional<RouteGroups> parse_route_groups(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<RouteGroups> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  if (text == "all") return RouteGroups{};
  RouteGroups g{false, false, false, false};
  if (text.empty()) return fail("--routes: empty; use \"all\" or a comma list of auth, tasks, images, web");
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    if (item == "auth")
      g.auth = true;
    else if (item == "tasks")
      g.tasks = true;
    else if (item == "images")
      g.images = true;
    else if (item == "web")
      g.web = true;
    else if (item == "all")
      g = RouteGroups{};
    else
      return fail("--routes: unknown group \"" + std::string(item) + "\"; use all, auth, tasks, images, web");
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return g;
}

std::string to_string(const RouteGroups& g) {
  if (g.auth && g.tasks && g.images && g.web) return "all";
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ",";
    out += name;
  };
  add(g.auth, "auth");
  add(g.tasks, "tasks");
  add(g.images, "images");
  add(g.web, "web");
  return out.empty() ? "none" : out;
}

void add_cli_options(CLI::App& app, ServerOptions& o, CliValues& v) {
  if (o.threads <= 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--port", o.port, "TCP port to listen on (0: any free port)")
      ->envname("FRACTAL_PORT")
      ->capture_default_str();
  app.add_option("--bind", o.bind, "Address to listen on")->envname("FRACTAL_BIND")->capture_default_str();
  app.add_option("--threads", o.threads, "HTTP worker threads (default: hardware cores)")
      ->envname("FRACTAL_THREADS")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  runtime::add_connection_options(app, o.pg_conninfo, v.redis);
  app.add_option("--data-dir", o.data_dir, "Directory of rendered images (shared with the workers)")
      ->envname("FRACTAL_DATA_DIR")
      ->capture_default_str();
  app.add_option("--routes", v.routes,
                 "Route groups to serve: all, or a comma list of auth (sign-up/in/out), tasks "
                 "(add/delete/tasks/stats/palettes/tiles), images (download), web (the browser client at /); "
                 "livez/readyz/metrics always")
      ->envname("FRACTAL_ROUTES")
      ->capture_default_str();
  app.add_option("--quota", o.quota, "Unfinished (queued or running) tasks allowed per user; 0: unlimited")
      ->envname("FRACTAL_QUOTA")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--token-ttl", v.token_ttl, "Access token lifetime in seconds")
      ->envname("FRACTAL_TOKEN_TTL")
      ->check(CLI::Range(static_cast<std::int64_t>(1), static_cast<std::int64_t>(366) * 24 * 3600))
      ->capture_default_str();
  app.add_flag("--dev", o.dev,
               "Development mode: without FRACTAL_JWT_SECRET / FRACTAL_JWT_SECRET_FILE a random JWT key is made "
               "(tokens die with the process); never in production")
      ->envname("FRACTAL_DEV");
  app.add_option("--drain-seconds", v.drain,
                 "On SIGTERM/SIGINT, answer /readyz 503 this long before closing the listener")
      ->envname("FRACTAL_DRAIN_SECONDS")
      ->check(CLI::Range(static_cast<std::int64_t>(0), static_cast<std::int64_t>(3600)))
      ->capture_default_str();
  app.add_option("--tile-cache-bytes", o.tile_cache_bytes,
                 "Bound of the shared tile cache in PNG bytes (least recently used tiles go first)")
      ->envname("FRACTAL_TILE_CACHE_BYTES")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--tile-timeout-ms", v.tile_timeout_ms, "Longest wait for a tile render before 503 busy")
      ->envname("FRACTAL_TILE_TIMEOUT_MS")
      ->check(CLI::Range(static_cast<std::int64_t>(100), static_cast<std::int64_t>(600000)))
      ->capture_default_str();
  app.add_option("--tile-stream", o.tile_prefix, "Redis tiles stream (and key prefix) shared with the workers")
      ->envname("FRACTAL_TILE_STREAM")
      ->capture_default_str();
  app.add_option("--waiter-threads", o.waiter_threads,
                 "Threads holding requests that wait for a render (tile misses), so HTTP threads never block")
      ->envname("FRACTAL_WAITER_THREADS")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--tile-max-in-flight", o.tile_max_in_flight, "Tile renders one user may wait for at once (429 above)")
      ->envname("FRACTAL_TILE_MAX_IN_FLIGHT")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--web-dir", v.web_dir,
                 "Directory of the built web client (web/dist) served at GET / by the web route group "
                 "(default: web/dist of the source tree the binary was built in, if built)")
      ->envname("FRACTAL_WEB_DIR");
  app.add_option("--log-level", o.log_level, "Log level: trace, debug, info, warn, error, critical, off")
      ->envname("FRACTAL_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.footer(
      "Environment only:\n"
      "  FRACTAL_JWT_SECRET       JWT signing key (>= 32 bytes), or\n"
      "  FRACTAL_JWT_SECRET_FILE  a file holding it; one of them is required without --dev");
}

std::string finish_options(ServerOptions& o, const CliValues& v) {
  std::string error;
  auto routes = parse_route_groups(v.routes, &error);
  if (!routes) return error;
  o.routes = *routes;
  if (std::string why = runtime::finish_connection_options(o.pg_conninfo, v.redis, o.redis); !why.empty()) return why;
  o.token_ttl = std::chrono::seconds{v.token_ttl};
  o.drain = std::chrono::seconds{v.drain};
  o.tile_timeout = std::chrono::milliseconds{v.tile_timeout_ms};
  if (o.data_dir.empty()) return "--data-dir: must not be empty";
  if (!v.web_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(std::filesystem::path(v.web_dir) / "index.html", ec))
      return "--web-dir: no index.html in \"" + v.web_dir + "\" (build it: npm ci && npm run build in web/)";
    o.web_dir = v.web_dir;
  } else if (o.routes.web) {
    o.web_dir = default_web_dir();
  }
  return {};
}

}  // namespace fractal::server
