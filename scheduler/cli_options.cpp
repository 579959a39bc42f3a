#include "scheduler/cli_options.h"

#include <cmath>
#include <sstream>

#include <CLI/CLI.hpp>

#include "runtime/connection_options.h"

namespace fractal::scheduler {
namespace {

Millis seconds_to_ms(double s) { return Millis(static_cast<long long>(std::llround(s * 1000.0))); }

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine cl;
  WorkerOptions& o = cl.options;
  CLI::App app{
      "fractal-worker: renders queued fractal tasks. Reads task ids from the Redis stream (consumer group "
      "\"renderers\"), renders them in batches, writes the images to the image store and records the outcome in "
      "Postgres. Every option can also come from the environment variable shown (the flag wins). SIGTERM or SIGINT: "
      "stop reading, finish the current batch (renders still going after --drain-timeout are canceled and handed "
      "back to the queue), exit 0."};
  app.get_formatter()->column_width(34);

  std::string redis_text(runtime::kDefaultRedis), data_dir, backend_text = "auto";
  double claim_timeout_s = 30, reconcile_s = 10, reconcile_min_age_s = 5, drain_s = 20;
  long long block_ms = 1000;
  runtime::add_connection_options(app, o.pg_conninfo, redis_text);
  app.add_option("--stream", o.queue.stream, "Redis stream of task ids (the server's); dead letters go to <stream>:dead")
      ->envname("FRACTAL_STREAM")
      ->capture_default_str();
  app.add_option("--data-dir", data_dir, "image store directory (shared with the server)")->envname("FRACTAL_DATA_DIR");
  app.add_option("--name", o.name, "consumer name, unique per live worker (default: <hostname>-<pid>)")
      ->envname("FRACTAL_WORKER_NAME");
  app.add_option("--backend", backend_text, "auto | cpu | cuda (auto: CUDA when a GPU is present, else CPU)")
      ->envname("FRACTAL_BACKEND")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "CPU render threads (0 = all cores)")
      ->envname("FRACTAL_THREADS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--batch", o.batch, "tasks read per XREADGROUP and rendered together")
      ->envname("FRACTAL_BATCH")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--block-ms", block_ms, "XREADGROUP BLOCK time in milliseconds")
      ->envname("FRACTAL_BLOCK_MS")
      ->check(CLI::Range(1LL, 60000LL))
      ->capture_default_str();
  app.add_option("--claim-timeout", claim_timeout_s,
                 "seconds an entry may stay unrefreshed before another worker takes it over")
      ->envname("FRACTAL_CLAIM_TIMEOUT")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.add_option("--max-deliveries", o.max_deliveries, "deliveries after which a task is failed and dead-lettered")
      ->envname("FRACTAL_MAX_DELIVERIES")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--reconcile-interval", reconcile_s,
                 "seconds between comparisons of Postgres with the stream (re-enqueues lost tasks)")
      ->envname("FRACTAL_RECONCILE_INTERVAL")
      ->check(CLI::Range(0.01, 86400.0))
      ->capture_default_str();
  app.add_option("--reconcile-min-age", reconcile_min_age_s, "seconds a task must exist before it may be re-enqueued")
      ->envname("FRACTAL_RECONCILE_MIN_AGE")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--encode-threads", o.encode_threads, "threads writing images while the next batch renders")
      ->envname("FRACTAL_ENCODE_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--png-compression", o.png_compression, "PNG zlib level 0-9 (1 is ~4x faster than 6)")
      ->envname("FRACTAL_PNG_COMPRESSION")
      ->check(CLI::Range(0, 9))
      ->capture_default_str();
  app.add_option("--tile-batch", o.tile_batch, "tiles taken from the tiles stream and rendered in one call at most")
      ->envname("FRACTAL_TILE_BATCH")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--tile-stream", o.tile_queue.prefix, "Redis tiles stream (and key prefix) of the interactive lane")
      ->envname("FRACTAL_TILE_STREAM")
      ->capture_default_str();
  app.add_flag("--no-tiles{false}", o.tiles, "do not serve the interactive tile lane (tasks only)");
  app.add_option("--drain-timeout", drain_s, "seconds renders may go on after SIGTERM before they are handed back")
      ->envname("FRACTAL_DRAIN_TIMEOUT")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  std::string health_file;
  long long check_max_age_s = cl.check_max_age.count();
  app.add_option("--health-file", health_file,
                 "liveness file written every heartbeat with the time the worker last made progress")
      ->envname("FRACTAL_WORKER_HEALTH_FILE");
  app.add_flag("--check", cl.check,
               "liveness probe: exit 0 when --health-file shows progress within --check-max-age, else 1");
  app.add_option("--check-max-age", check_max_age_s, "seconds without progress after which --check fails")
      ->envname("FRACTAL_WORKER_CHECK_MAX_AGE")
      ->check(CLI::Range(1LL, 86400LL))
      ->capture_default_str();
  app.add_option("--log-level", cl.log_level, "trace | debug | info | warn | error")
      ->envname("FRACTAL_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    cl.exit_code = app.exit(e, out, err);
    cl.message = out.str() + err.str();
    if (cl.exit_code != 0) cl.exit_code = 2;
    return cl;
  }

  o.health_file = health_file;
  cl.check_max_age = std::chrono::seconds(check_max_age_s);
  if (cl.check) {
    if (health_file.empty()) {
      cl.exit_code = 2;
      cl.message = "fractal-worker: --check needs --health-file (or FRACTAL_WORKER_HEALTH_FILE)\n";
    }
    return cl;
  }

  if (std::string error = runtime::finish_connection_options(o.pg_conninfo, redis_text, o.redis); !error.empty()) {
    cl.exit_code = 2;
    cl.message = "fractal-worker: " + error + "\n";
    return cl;
  }
  o.queue.dead_stream = o.queue.stream + ":dead";
  o.data_dir = data_dir;
  o.backend = parse_backend(backend_text).value_or(BackendKind::automatic);
  o.block = Millis(block_ms);
  o.claim_timeout = seconds_to_ms(claim_timeout_s);
  o.reconcile_interval = seconds_to_ms(reconcile_s);
  o.reconcile_min_age = seconds_to_ms(reconcile_min_age_s);
  o.drain_timeout = seconds_to_ms(drain_s);
  if (o.name.empty()) o.name = default_worker_name();
  if (const std::string why = o.validate(); !why.empty()) {
    cl.exit_code = 2;
    cl.message = "fractal-worker: " + why + "\nRun with --help for more information.\n";
  }
  return cl;
}

}  // namespace fractal::scheduler
