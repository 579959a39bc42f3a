// Service-wide metrics kept in Redis, so that every worker's figures reach the
// one GET /metrics and GET /stats of the server, survive worker restarts and
// add up across workers:
//   fractal:metrics          hash of counters and histogram buckets (HINCRBY / HINCRBYFLOAT)
//   fractal:rate:<unix sec>  hash {renders, iterations} per second, expiring after 2 minutes
//   fractal:workers          sorted set worker name -> last heartbeat (unix ms)
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "storage/redis.h"

namespace fractal::storage {

// Histogram bucket upper bounds (seconds for times, tasks for batch sizes).
const std::vector<double>& queue_wait_buckets();
const std::vector<double>& render_time_buckets();
const std::vector<double>& batch_size_buckets();

struct HistogramSnapshot {
  std::vector<std::pair<double, std::int64_t>> buckets;  // cumulative count per upper bound, +Inf excluded
  std::int64_t count = 0;
  double sum = 0;
};

// Histograms in a Redis hash (the worker's metrics and the tile lane's): each
// observation adds 1 to "<name>:bucket:<bound>" of the first bound >= value
// ("+Inf" past the last), plus "<name>:count" and "<name>:sum"; read back
// cumulative, as Prometheus wants them.
std::string histogram_bucket_field(std::string_view name, const std::vector<double>& bounds, double value);
HistogramSnapshot read_histogram(const std::map<std::string, std::string>& hash, std::string_view name,
                                 const std::vector<double>& bounds);
// A hash field as a number; 0 when absent.
double hash_number(const std::map<std::string, std::string>& hash, const std::string& field);

struct MetricsSnapshot {
  HistogramSnapshot queue_wait_seconds, render_seconds, batch_size;
  std::int64_t tasks_rendered = 0, tasks_failed = 0, redeliveries = 0, dead_letters = 0, reconciled = 0;
  double iterations = 0;
};

struct RateSnapshot {
  double renders_per_second = 0, iterations_per_second = 0;  // averaged over the window
};

class MetricsStore {
 public:
  explicit MetricsStore(RedisOptions redis);

  // Worker side; every call is one round trip (record_renders/record_batch: a
  // pipelined MULTI/EXEC).
  struct RenderSample {
    double queue_wait_seconds = 0, render_seconds = 0;
    std::int64_t iterations = 0;
  };
  void record_render(double queue_wait_seconds, double render_seconds, std::int64_t iterations);
  void record_renders(const std::vector<RenderSample>& samples);
  void record_batch(std::size_t tasks);
  void record_failure();
  void record_redeliveries(std::int64_t n);
  void record_dead_letter();
  void record_reconciled(std::int64_t n);
  void heartbeat(std::string_view worker);
  void worker_stopped(std::string_view worker);

  // Server side.
  MetricsSnapshot snapshot();
  RateSnapshot rate(std::chrono::seconds window = std::chrono::seconds(60));
  // Workers whose last heartbeat is younger than max_age.
  std::int64_t workers_alive(std::chrono::seconds max_age = std::chrono::seconds(15));

 private:
  void histogram_fields(std::vector<std::string>& argv, std::string_view name, const std::vector<double>& bounds,
                        double value);

  std::mutex mutex_;
  RedisConnection conn_;
};

}  // namespace fractal::storage
