// The CPU escape-time kernel for one row segment, compiled for every SIMD
// target Highway knows (AVX-512, AVX2, SSE4, NEON, ...) and picked at run time.
#pragma once

#include <cstdint>
#include <string>

namespace fractal::cpu {

struct RowArgs {
  const void* re = nullptr;  // T[n]: the real coordinate of each column (T = float or double), padded to row_pad()
  double im = 0;             // the row's imaginary coordinate
  double c_re = 0, c_im = 0; // Julia constant
  bool julia = false;        // false: c = pixel, z0 = 0; true: z0 = pixel, c = constant
  int n = 0;                 // columns
  int max_iter = 1;
  std::uint32_t* counts = nullptr;  // n outputs
  float* mag2 = nullptr;            // n outputs or null
};

// Columns a coordinate array must be padded to (a multiple of the widest vector group).
[[nodiscard]] constexpr int row_pad() { return 64; }

// Both return the sum of the counts written.
std::uint64_t escape_row_f32(const RowArgs& args);
std::uint64_t escape_row_f64(const RowArgs& args);

// The instruction set the dispatcher picked, e.g. "avx512", "avx2", "sse4", "neon".
[[nodiscard]] std::string simd_target_name();

}  // namespace fractal::cpu
