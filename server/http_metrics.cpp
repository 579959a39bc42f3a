#include "server/http_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <limits>
#include <sstream>

#include "runtime/logging.h"

namespace fractal::server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric gauge(double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

ClientMetric counter(double value) {
  ClientMetric m;
  m.counter.value = value;
  return m;
}

MetricFamily histogram(std::string name, std::string help, const storage::HistogramSnapshot& h) {
  MetricFamily f = family(std::move(name), std::move(help), MetricType::Histogram);
  ClientMetric m;
  m.histogram.sample_count = static_cast<std::uint64_t>(std::max<std::int64_t>(0, h.count));
  m.histogram.sample_sum = h.sum;
  for (const auto& [bound, cumulative] : h.buckets)
    m.histogram.bucket.push_back({static_cast<std::uint64_t>(std::max<std::int64_t>(0, cumulative)), bound});
  m.histogram.bucket.push_back({m.histogram.sample_count, std::numeric_limits<double>::infinity()});
  f.metric.push_back(std::move(m));
  return f;
}

MetricFamily single_counter(std::string name, std::string help, double value) {
  MetricFamily f = family(std::move(name), std::move(help), MetricType::Counter);
  f.metric.push_back(counter(value));
  return f;
}

MetricFamily single_gauge(std::string name, std::string help, double value) {
  MetricFamily f = family(std::move(name), std::move(help), MetricType::Gauge);
  f.metric.push_back(gauge(value));
  return f;
}

MetricFamily local_histogram(std::string name, std::string help, const TileStats::Histogram& h) {
  storage::HistogramSnapshot snap;
  std::int64_t running = 0;
  for (std::size_t b = 0; b < TileStats::kBounds.size(); ++b) {
    running += h.buckets[b].load();
    snap.buckets.emplace_back(TileStats::kBounds[b], running);
  }
  snap.count = h.count.load();
  snap.sum = h.sum.load();
  return histogram(std::move(name), std::move(help), snap);
}

// The tile lane: this server's answers and latencies, the shared cache and
// the workers' tile renders (Redis).
void append_tile_metrics(Services& s, std::vector<MetricFamily>& families) {
  MetricFamily answers = family("fractal_tile_requests_total", "Tile requests answered by this server, by outcome",
                                MetricType::Counter);
  const std::pair<const char*, TileOutcome> outcomes[] = {
      {"hit", TileOutcome::hit},   {"miss", TileOutcome::miss},         {"not_modified", TileOutcome::not_modified},
      {"busy", TileOutcome::busy}, {"too_many", TileOutcome::too_many}, {"failed", TileOutcome::failed}};
  for (const auto& [name, o] : outcomes) {
    ClientMetric m = counter(static_cast<double>(s.tile_stats.count(o)));
    m.label = {{"outcome", name}};
    answers.metric.push_back(std::move(m));
  }
  families.push_back(std::move(answers));
  families.push_back(local_histogram("fractal_tile_hit_seconds", "Time to answer a tile from the cache",
                                     s.tile_stats.hit_latency()));
  families.push_back(local_histogram("fractal_tile_miss_seconds", "Time to answer a tile that had to be rendered",
                                     s.tile_stats.miss_latency()));
  const storage::TileCacheStats c = s.tile_queue.stats();
  const storage::TileWorkerStats w = s.tile_queue.worker_stats();
  families.push_back(single_gauge("fractal_tile_cache_bytes", "PNG bytes held by the shared tile cache",
                                  static_cast<double>(c.bytes)));
  families.push_back(single_gauge("fractal_tile_cache_entries", "Tiles held by the shared tile cache",
                                  static_cast<double>(c.entries)));
  families.push_back(single_gauge("fractal_tile_queue_depth", "Tile renders waiting in the tiles stream",
                                  static_cast<double>(c.queue_depth)));
  families.push_back(single_counter("fractal_tiles_rendered_total", "Tiles rendered by the workers",
                                    static_cast<double>(w.rendered)));
  families.push_back(single_counter("fractal_tiles_dropped_total",
                                    "Tile renders dropped by a worker because their requester had given up",
                                    static_cast<double>(w.dropped)));
  families.push_back(single_counter("fractal_tiles_failed_total", "Tile renders that failed in a worker",
                                    static_cast<double>(w.failed)));
  families.push_back(histogram("fractal_tile_batch_size", "Tiles rendered in one render call", w.batch_size));
  families.push_back(histogram("fractal_tile_render_seconds", "Render time of one batch of tiles", w.render_seconds));
}

}  // namespace

struct HttpMetrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter()
          .Name("fractal_http_requests_total")
          .Help("HTTP requests answered, by route pattern, method and status")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& duration = prometheus::BuildHistogram()
                                                            .Name("fractal_http_request_duration_seconds")
                                                            .Help("Time to answer an HTTP request, by route pattern")
                                                            .Register(registry);
};

HttpMetrics::HttpMetrics() : impl_(std::make_unique<Impl>()) {}
HttpMetrics::~HttpMetrics() = default;

void HttpMetrics::observe(std::string_view route, std::string_view method, int status, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                  0.25,  0.5,    1,     2.5,  5,     10};
  impl_->requests
      .Add({{"route", std::string(route)}, {"method", std::string(method)}, {"status", std::to_string(status)}})
      .Increment();
  impl_->duration.Add({{"route", std::string(route)}}, kBounds).Observe(seconds);
}

void HttpMetrics::observe_refused(int status) {
  impl_->requests.Add({{"route", "transport"}, {"method", "-"}, {"status", std::to_string(status)}}).Increment();
}

std::string HttpMetrics::render(Services& s) const {
  std::vector<MetricFamily> families = impl_->registry.Collect();
  MetricFamily up = family("fractal_dependency_up", "Whether the last scrape could read the service (1) or not (0)",
                           MetricType::Gauge);

  // Tasks by status: Postgres.
  try {
    const storage::StatusCounts c = s.tasks.count_all_by_status();
    MetricFamily f = family("fractal_tasks", "Tasks by status (all users)", MetricType::Gauge);
    const std::pair<const char*, std::int64_t> rows[] = {
        {"queued", c.queued}, {"running", c.running}, {"done", c.done}, {"failed", c.failed}, {"canceled", c.canceled}};
    for (const auto& [name, n] : rows) f.metric.push_back(gauge(static_cast<double>(n), {{"status", name}}));
    families.push_back(std::move(f));
    up.metric.push_back(gauge(1, {{"service", "postgres"}}));
  } catch (const std::exception& e) {
    spdlog::warn("event=metrics_source_down source=postgres error={}", runtime::log_value(e.what()));
    up.metric.push_back(gauge(0, {{"service", "postgres"}}));
  }

  // Queue and worker figures: Redis.
  try {
    const storage::QueueDepth d = s.queue.depth();
    families.push_back(single_gauge("fractal_queue_depth", "Unacknowledged entries of the task stream (XLEN)",
                                    static_cast<double>(d.length)));
    families.push_back(single_gauge("fractal_queue_pending", "Entries delivered to a worker, not yet acknowledged",
                                    static_cast<double>(d.pending)));
    families.push_back(single_gauge("fractal_queue_undelivered", "Entries waiting for a first delivery",
                                    static_cast<double>(d.undelivered)));
    families.push_back(single_gauge("fractal_queue_dead_letter_depth", "Entries in the dead-letter stream",
                                    static_cast<double>(d.dead)));
    const storage::MetricsSnapshot m = s.metrics.snapshot();
    families.push_back(histogram("fractal_queue_wait_seconds", "Time from submission to the start of rendering",
                                 m.queue_wait_seconds));
    families.push_back(histogram("fractal_render_seconds", "Render time of one task", m.render_seconds));
    families.push_back(histogram("fractal_batch_size", "Tasks handed to the renderer at once", m.batch_size));
    families.push_back(single_counter("fractal_tasks_rendered_total", "Tasks rendered by the workers",
                                      static_cast<double>(m.tasks_rendered)));
    families.push_back(single_counter("fractal_tasks_failed_total", "Tasks that failed in a worker",
                                      static_cast<double>(m.tasks_failed)));
    families.push_back(single_counter("fractal_redeliveries_total", "Queue entries taken over from a stopped worker",
                                      static_cast<double>(m.redeliveries)));
    families.push_back(single_counter("fractal_dead_letters_total", "Queue entries moved to the dead-letter stream",
                                      static_cast<double>(m.dead_letters)));
    families.push_back(single_counter("fractal_reconciled_total", "Tasks re-enqueued by the reconciler",
                                      static_cast<double>(m.reconciled)));
    families.push_back(
        single_counter("fractal_iterations_total", "Escape-loop iterations computed by the workers", m.iterations));
    families.push_back(single_gauge("fractal_workers_alive", "Workers with a recent heartbeat",
                                    static_cast<double>(s.metrics.workers_alive())));
    append_tile_metrics(s, families);
    up.metric.push_back(gauge(1, {{"service", "redis"}}));
  } catch (const std::exception& e) {
    spdlog::warn("event=metrics_source_down source=redis error={}", runtime::log_value(e.what()));
    up.metric.push_back(gauge(0, {{"service", "redis"}}));
  }
  families.push_back(std::move(up));

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace fractal::server
