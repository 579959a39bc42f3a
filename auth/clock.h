// Injectable monotonic clock for the in-memory stores, so tests move time
// instead of sleeping.
#pragma once

#include <chrono>
#include <functional>

namespace fractal::auth {

using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;

inline SteadyClock steady_clock_now() {
  return [] { return std::chrono::steady_clock::now(); };
}

}  // namespace fractal::auth
