#pragma once
// How much slower code runs in the sanitizer build (scripts/test --sanitize,
// FRACTAL_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer at -O1) than
// in the normal one, for tests that bound a wall-clock time: the bound is a
// property of the code's design (e.g. "cancel stops between tiles"), not of the
// instrumentation. GCC defines __SANITIZE_ADDRESS__, clang has __has_feature.
#include <chrono>

namespace fractal::test {
#if defined(__SANITIZE_ADDRESS__)
inline constexpr double kSanitizerSlowdown = 5.0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr double kSanitizerSlowdown = 5.0;
#else
inline constexpr double kSanitizerSlowdown = 1.0;
#endif
#else
inline constexpr double kSanitizerSlowdown = 1.0;
#endif

// Rendering (the SIMD kernels at -O1 with every memory access checked) is slower
// still: about 28x (fractal-render, 400x300, 6e8 iterations: 0.48 s against
// 13.6 s). Tests that need a render of some duration (to kill, cancel or hand
// back mid-render) divide its iterations by this instead of waiting 28x longer.
inline constexpr int kSanitizerRenderDivisor = kSanitizerSlowdown > 1.0 ? 20 : 1;

// A wall-clock bound or wait, stretched by the slowdown in the sanitizer build.
template <class Rep, class Period>
constexpr std::chrono::milliseconds sanitizer_scaled(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d * kSanitizerSlowdown);
}

}  // namespace fractal::test
