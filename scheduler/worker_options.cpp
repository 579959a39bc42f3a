#include "scheduler/worker_options.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>

namespace fractal::scheduler {

Millis WorkerOptions::touch_interval() const {
  return std::clamp(claim_timeout / 3, Millis(50), Millis(5000));
}

Millis WorkerOptions::autoclaim_interval() const {
  return std::clamp(claim_timeout / 4, Millis(50), Millis(2000));
}

Millis WorkerOptions::reconcile_grace() const {
  // A live worker re-creates its leases within one touch interval after Redis
  // lost them; twice that leaves a margin.
  return std::max(2 * touch_interval(), Millis(500));
}

std::string WorkerOptions::validate() const {
  if (redis.host.empty() || redis.port <= 0 || redis.port > 65535) return "bad Redis address (--redis / FRACTAL_REDIS)";
  if (data_dir.empty()) return "no image directory given (--data-dir / FRACTAL_DATA_DIR)";
  if (threads < 0) return "--threads must be >= 0";
  if (batch < 1 || batch > 1024) return "--batch must be 1-1024";
  if (block.count() < 1) return "--block-ms must be >= 1";
  if (claim_timeout.count() < 100) return "--claim-timeout must be at least 0.1 s";
  if (max_deliveries < 1) return "--max-deliveries must be >= 1";
  if (reconcile_interval.count() < 10) return "--reconcile-interval must be at least 0.01 s";
  if (reconcile_min_age.count() < 0) return "--reconcile-min-age must be >= 0";
  if (encode_threads < 1 || encode_threads > 64) return "--encode-threads must be 1-64";
  if (png_compression < 0 || png_compression > 9) return "--png-compression must be 0-9";
  if (drain_timeout.count() < 0) return "--drain-timeout must be >= 0";
  if (tile_batch < 1 || tile_batch > 1024) return "--tile-batch must be 1-1024";
  return {};
}

std::string default_worker_name() {
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "worker");
  return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace fractal::scheduler
