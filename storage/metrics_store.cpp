#include "storage/metrics_store.h"
#include "storage/redis_keys.h"

#include <cstdio>

namespace fractal::storage {
namespace {

const std::string kHash{keys::kMetricsHash};
const std::string kWorkers{keys::kWorkersHash};
constexpr std::int64_t kRateTtlSeconds = 120;

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
std::string bound_text(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", b);
  return buf;
}

}  // namespace

const std::vector<double>& queue_wait_buckets() {
  static const std::vector<double> b = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800};
  return b;
}
const std::vector<double>& render_time_buckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
  return b;
}
const std::vector<double>& batch_size_buckets() {
  static const std::vector<double> b = {1, 2, 4, 8, 16, 32, 64, 128};
  return b;
}

MetricsStore::MetricsStore(RedisOptions redis) : conn_(std::move(redis)) {}

std::string histogram_bucket_field(std::string_view name, const std::vector<double>& bounds, double value) {
  // Buckets are stored non-cumulative (one HINCRBY per observation) and summed when read.
  std::string bucket = "+Inf";
  for (double b : bounds) {
    if (value <= b) {
      bucket = bound_text(b);
      break;
    }
  }
  return std::string(name) + ":bucket:" + bucket;
}

HistogramSnapshot read_histogram(const std::map<std::string, std::string>& h, std::string_view name,
                                 const std::vector<double>& bounds) {
  HistogramSnapshot s;
  std::int64_t running = 0;
  for (double b : bounds) {
    running += static_cast<std::int64_t>(hash_number(h, std::string(name) + ":bucket:" + bound_text(b)));
    s.buckets.emplace_back(b, running);
  }
  s.count = static_cast<std::int64_t>(hash_number(h, std::string(name) + ":count"));
  s.sum = hash_number(h, std::string(name) + ":sum");
  return s;
}

double hash_number(const std::map<std::string, std::string>& h, const std::string& key) {
  auto it = h.find(key);
  return it == h.end() ? 0.0 : std::strtod(it->second.c_str(), nullptr);
}

void MetricsStore::histogram_fields(std::vector<std::string>& argv, std::string_view name,
                                    const std::vector<double>& bounds, double value) {
  argv.insert(argv.end(), {"HINCRBY", kHash, histogram_bucket_field(name, bounds, value), "1"});
}

void MetricsStore::record_render(double queue_wait_seconds, double render_seconds, std::int64_t iterations) {
  record_renders({RenderSample{queue_wait_seconds, render_seconds, iterations}});
}

void MetricsStore::record_renders(const std::vector<RenderSample>& samples) {
  if (samples.empty()) return;
  double queue_wait = 0, render = 0, iterations = 0;
  std::map<std::string, std::int64_t> buckets;  // histogram field -> observations
  for (const RenderSample& r : samples) {
    queue_wait += r.queue_wait_seconds;
    render += r.render_seconds;
    iterations += static_cast<double>(r.iterations);
    ++buckets[histogram_bucket_field("queue_wait", queue_wait_buckets(), r.queue_wait_seconds)];
    ++buckets[histogram_bucket_field("render", render_time_buckets(), r.render_seconds)];
  }
  const std::string n = std::to_string(samples.size());
  const std::string rate_key = std::string(keys::kRatePrefix) + std::to_string(unix_seconds());
  std::vector<std::vector<std::string>> cmds = {
      {"MULTI"},
      {"HINCRBY", kHash, "tasks_rendered", n},
      {"HINCRBYFLOAT", kHash, "iterations", std::to_string(iterations)},
      {"HINCRBY", kHash, "queue_wait:count", n},
      {"HINCRBYFLOAT", kHash, "queue_wait:sum", std::to_string(queue_wait)},
      {"HINCRBY", kHash, "render:count", n},
      {"HINCRBYFLOAT", kHash, "render:sum", std::to_string(render)},
      {"HINCRBY", rate_key, "renders", n},
      {"HINCRBYFLOAT", rate_key, "iterations", std::to_string(iterations)},
      {"EXPIRE", rate_key, std::to_string(kRateTtlSeconds)},
  };
  for (const auto& [field, count] : buckets) cmds.push_back({"HINCRBY", kHash, field, std::to_string(count)});
  cmds.push_back({"EXEC"});
  std::lock_guard lock(mutex_);
  conn_.pipeline(cmds);
}

void MetricsStore::record_batch(std::size_t tasks) {
  std::vector<std::string> b;
  histogram_fields(b, "batch", batch_size_buckets(), static_cast<double>(tasks));
  std::lock_guard lock(mutex_);
  conn_.pipeline({{"MULTI"},
                  b,
                  {"HINCRBY", kHash, "batch:count", "1"},
                  {"HINCRBYFLOAT", kHash, "batch:sum", std::to_string(tasks)},
                  {"EXEC"}});
}

void MetricsStore::record_failure() {
  std::lock_guard lock(mutex_);
  conn_.command({"HINCRBY", kHash, "tasks_failed", "1"});
}
void MetricsStore::record_redeliveries(std::int64_t n) {
  if (n <= 0) return;
  std::lock_guard lock(mutex_);
  conn_.command({"HINCRBY", kHash, "redeliveries", std::to_string(n)});
}
void MetricsStore::record_dead_letter() {
  std::lock_guard lock(mutex_);
  conn_.command({"HINCRBY", kHash, "dead_letters", "1"});
}
void MetricsStore::record_reconciled(std::int64_t n) {
  if (n <= 0) return;
  std::lock_guard lock(mutex_);
  conn_.command({"HINCRBY", kHash, "reconciled", std::to_string(n)});
}
void MetricsStore::heartbeat(std::string_view worker) {
  std::lock_guard lock(mutex_);
  conn_.command({"ZADD", kWorkers, std::to_string(unix_ms()), std::string(worker)});
}
void MetricsStore::worker_stopped(std::string_view worker) {
  std::lock_guard lock(mutex_);
  conn_.command({"ZREM", kWorkers, std::string(worker)});
}

MetricsSnapshot MetricsStore::snapshot() {
  std::map<std::string, std::string> h;
  {
    std::lock_guard lock(mutex_);
    const RedisReply r = conn_.command({"HGETALL", kHash});
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) h[r.elements[i].str] = r.elements[i + 1].str;
  }
  MetricsSnapshot s;
  s.queue_wait_seconds = read_histogram(h, "queue_wait", queue_wait_buckets());
  s.render_seconds = read_histogram(h, "render", render_time_buckets());
  s.batch_size = read_histogram(h, "batch", batch_size_buckets());
  s.tasks_rendered = static_cast<std::int64_t>(hash_number(h, "tasks_rendered"));
  s.tasks_failed = static_cast<std::int64_t>(hash_number(h, "tasks_failed"));
  s.redeliveries = static_cast<std::int64_t>(hash_number(h, "redeliveries"));
  s.dead_letters = static_cast<std::int64_t>(hash_number(h, "dead_letters"));
  s.reconciled = static_cast<std::int64_t>(hash_number(h, "reconciled"));
  s.iterations = hash_number(h, "iterations");
  return s;
}

RateSnapshot MetricsStore::rate(std::chrono::seconds window) {
  const std::int64_t now = unix_seconds();
  double renders = 0, iterations = 0;
  std::lock_guard lock(mutex_);
  // The current second is still filling: count the `window` full seconds before it.
  for (std::int64_t t = now - window.count(); t < now; ++t) {
    const RedisReply r = conn_.command({"HMGET", std::string(keys::kRatePrefix) + std::to_string(t), "renders", "iterations"});
    if (r.elements.size() == 2) {
      if (!r.elements[0].is_nil()) renders += std::strtod(r.elements[0].str.c_str(), nullptr);
      if (!r.elements[1].is_nil()) iterations += std::strtod(r.elements[1].str.c_str(), nullptr);
    }
  }
  const double w = static_cast<double>(std::max<std::int64_t>(1, window.count()));
  return {renders / w, iterations / w};
}

std::int64_t MetricsStore::workers_alive(std::chrono::seconds max_age) {
  std::lock_guard lock(mutex_);
  const std::int64_t since = unix_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(max_age).count();
  const RedisReply r = conn_.command({"ZCOUNT", kWorkers, std::to_string(since), "+inf"});
  return r.integer;
}

}  // namespace fractal::storage
