// Polls `condition` until it holds or `timeout` (stretched by the sanitizer
// build's slowdown) has passed: the one wait of the integration suites.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "tests/support/sanitizer_slowdown.h"

namespace fractal::test {

inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + sanitizer_scaled(timeout);
  auto pause = std::chrono::milliseconds(1);
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace fractal::test
