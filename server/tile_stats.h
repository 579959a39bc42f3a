// This server's own tile figures (GET /metrics, GET /stats): answers by
// outcome and latency histograms of cache hits and of renders. Lock-free.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace fractal::server {

enum class TileOutcome { hit, miss, not_modified, busy, too_many, failed };

class TileStats {
 public:
  static constexpr std::array<double, 13> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1,     2.5,  5,     10};
  struct Histogram {
    std::array<std::atomic<std::int64_t>, kBounds.size() + 1> buckets{};  // last: +Inf
    std::atomic<std::int64_t> count{0};
    std::atomic<double> sum{0};
  };

  void observe(TileOutcome outcome, double seconds) {
    counts_[static_cast<std::size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
    Histogram* h = outcome == TileOutcome::hit ? &hit_ : outcome == TileOutcome::miss ? &miss_ : nullptr;
    if (h == nullptr) return;
    std::size_t b = 0;
    while (b < kBounds.size() && seconds > kBounds[b]) ++b;
    h->buckets[b].fetch_add(1, std::memory_order_relaxed);
    h->count.fetch_add(1, std::memory_order_relaxed);
    double old = h->sum.load(std::memory_order_relaxed);
    while (!h->sum.compare_exchange_weak(old, old + seconds, std::memory_order_relaxed)) {
    }
  }
  [[nodiscard]] std::int64_t count(TileOutcome outcome) const {
    return counts_[static_cast<std::size_t>(outcome)].load(std::memory_order_relaxed);
  }
  [[nodiscard]] const Histogram& hit_latency() const { return hit_; }
  [[nodiscard]] const Histogram& miss_latency() const { return miss_; }

 private:
  std::array<std::atomic<std::int64_t>, 6> counts_{};
  Histogram hit_, miss_;
};

}  // namespace fractal::server
