// Exponential back-off for retrying Postgres or Redis while they are down.
#pragma once

#include <algorithm>
#include <chrono>

namespace fractal::runtime {

class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds first = std::chrono::milliseconds(100),
                   std::chrono::milliseconds max = std::chrono::milliseconds(5000))
      : first_(first), max_(max), next_(first) {}

  // The delay to wait now; each call doubles the next one, up to max.
  std::chrono::milliseconds next() {
    const auto d = next_;
    next_ = std::min(next_ * 2, max_);
    return d;
  }
  void reset() { next_ = first_; }

 private:
  std::chrono::milliseconds first_, max_, next_;
};

}  // namespace fractal::runtime
