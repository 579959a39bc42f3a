// Prometheus metrics of the server: its own request counters and latency
// histogram, plus the service-wide figures read at scrape time (tasks by
// status from Postgres, queue depth from Redis, the workers' histograms and
// counters from storage::MetricsStore), all in the text exposition format.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "server/services.h"

namespace fractal::server {

class HttpMetrics {
 public:
  HttpMetrics();
  ~HttpMetrics();
  HttpMetrics(const HttpMetrics&) = delete;
  HttpMetrics& operator=(const HttpMetrics&) = delete;

  // route: the route pattern ("/tasks/:id"), or "unmatched" / "transport";
  // never a raw path, so label cardinality stays bounded. Thread-safe.
  void observe(std::string_view route, std::string_view method, int status, double seconds);
  // A request the transport guard refused before it was parsed (route "transport").
  void observe_refused(int status);

  // The whole exposition: these metrics, then the service-wide ones from `services`.
  // A source that is down is left out and reported by fractal_dependency_up.
  [[nodiscard]] std::string render(Services& services) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fractal::server
