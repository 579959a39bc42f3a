// The escape-time iteration of docs/api.md, one template for float and
// double, usable on the host as the gold reference (escape_reference) and on
// the device by the persistent tile kernel (cuda_renderer.cuh).
//
// Why it looks like this (H100 bound: SMs x 128 lanes x clock / 4 float
// iterations per second, half for double):
//
// * Operation count. The bound allows 4 instructions per iteration; a plain
//   loop spends about 11 (3 mul, 4 add, compare, branch, counter, loop) and
//   reaches ~30 %. A float step here is 5 instructions: y2 = y*y,
//   x' = fma(x, x, cr - y2), y' = fma(x + x, y, ci); |z|^2 = fma(x, x, y2)
//   costs a 6th only where it is tested. x^2 lives inside the FMAs, y^2 is
//   shared. These are exactly the operations of the CPU float kernel
//   (kernels/cpu/mandel_hwy.cpp), so float counts match the CPU bit for bit.
// * Double does not fuse: it rounds every operation like the plain IEEE
//   expression (x*x - y*y) + cr, (x + x)*y + ci, x*x + y*y, so double counts
//   are bit-identical to a plain double reference (and to the CPU backend)
//   even in chaotic deep-zoom orbits, where the API's 99.9 % rule would be at
//   risk with FMAs. (x + x)*y + ci is computed as fma(x*y, 2, ci): 2*(x*y) is
//   exact, so this is the same number with one instruction less. 6 FP64
//   instructions per step, which is what bounds double on the FP64 pipe.
// * Escape test folded out of the loop. Escape is monotone (|z| > max(2, |c|)
//   implies |z^2 + c| > |z|, and Mandelbrot meets |z_1| = |c|), and overflow
//   ends in inf/NaN, which fail `m <= 4`. So a block of kFastSteps = 16 steps
//   runs without tests and checks only the last |z|^2; a block that escaped
//   is rolled back and replayed with a test per step (escape_checked), which
//   gives the exact first k and |z_k|^2. Both paths run the same
//   escape_step with explicitly rounded operations (the _rn intrinsics are
//   never contracted), so the replay reproduces the block bit for bit.
//   Julia sets with |c| > 2 are not monotone and always take the checked path.
//   Per iteration: 5 + (1 + ~15 loop/scheduling instructions) / 16 ~ 6 issue
//   slots for float (~67 % of the bound), ~6.1 FP64 slots for double.
// * ILP and registers: one point per lane. Within a step, the x and y chains
//   are independent; with ~8 resident warps per scheduler the ~12-cycle step
//   latency is hidden without interleaving a second point, which would double
//   the state registers and make a lane wait for the slower of its two points.
//   Lane state is x, y, cr, ci, k, max_iter, the output index and flags.
// * Divergence, the real loss of a plain kernel (a warp runs as long as its
//   slowest lane), is handled one level up: lanes that finish take new points
//   from the warp's tile (see render_tiles in cuda_renderer.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/grid_map.h"
#include "kernels/rounding.h"

namespace fractal::cuda {

// Rounding helpers (mul_rn, add_rn, ..., fma_rn) come from kernels/rounding.h
// and the grid mapping (grid_re, grid_im) from kernels/grid_map.h: the same
// definitions the CPU backend and the tests' reference use.

// ---- The iteration ----------------------------------------------------------

// Steps per unchecked block. 16 amortises the block's test and the warp's
// scheduling over enough steps; the rollback replays at most this many.
inline constexpr int kFastSteps = 16;

struct EscapeResult {
  std::uint32_t count;  // min(max_iter, first k with |z_k|^2 > 4)
  float mag2;           // |z_k|^2 at escape, 0 when the point did not escape
};

// One step from z_k: returns |z_k|^2 and replaces z by z_{k+1} = z_k^2 + c.
template <class T>
__host__ __device__ __forceinline__ T escape_step(T& x, T& y, const T cr, const T ci) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or double");
  if constexpr (sizeof(T) == 4) {
    const T y2 = mul_rn(y, y);
    const T m = fma_rn(x, x, y2);
    const T nx = fma_rn(x, x, sub_rn(cr, y2));
    y = fma_rn(add_rn(x, x), y, ci);
    x = nx;
    return m;
  } else {
    const T x2 = mul_rn(x, x);
    const T y2 = mul_rn(y, y);
    const T m = add_rn(x2, y2);
    const T p = mul_rn(x, y);
    x = add_rn(sub_rn(x2, y2), cr);
    y = fma_rn(p, T(2), ci);
    return m;
  }
}

// kSteps steps without tests. True when |z|^2 <= 4 still held at the last
// one, i.e. (escape being monotone) at every one; false when the block must
// be replayed with escape_checked from the state it started from.
template <class T, int kSteps>
__host__ __device__ __forceinline__ bool escape_block(T& x, T& y, const T cr, const T ci) {
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int s = 0; s < kSteps - 1; ++s) (void)escape_step(x, y, cr, ci);
  return escape_step(x, y, cr, ci) <= T(4);
}

// At most `steps` steps, each tested. Returns true when the point is
// finished: k is then its count and mag2 |z_k|^2 at escape (0 at max_iter).
// Otherwise z = z_k with k advanced by `steps`.
template <class T>
__host__ __device__ __forceinline__ bool escape_checked(T& x, T& y, const T cr, const T ci, int& k, const int max_iter,
                                                        const int steps, float& mag2) {
  const int stop = max_iter - k < steps ? max_iter : k + steps;
  for (; k < stop; ++k) {
    const T m = escape_step(x, y, cr, ci);
    if (m > T(4)) {
      mag2 = static_cast<float>(m);
      return true;
    }
  }
  if (k >= max_iter) {
    mag2 = 0.0f;
    return true;
  }
  return false;
}

// The gold reference: the definition, one test per step, from z0 with c.
template <class T>
__host__ __device__ inline EscapeResult escape_reference(T x, T y, const T cr, const T ci, const int max_iter) {
  int k = 0;
  float mag2 = 0.0f;
  (void)escape_checked(x, y, cr, ci, k, max_iter, max_iter, mag2);
  return {static_cast<std::uint32_t>(k), mag2};
}

// The reference for grid point (i, j): Mandelbrot (z0 = 0, c = point) or
// Julia (z0 = point, c = julia), the point computed in double then rounded to T.
template <class T>
__host__ __device__ inline EscapeResult escape_reference_at(bool julia, double center_re, double center_im,
                                                            double scale, int width, int height, int i, int j,
                                                            double julia_re, double julia_im, int max_iter) {
  const T re = static_cast<T>(grid_re(center_re, scale, width, i));
  const T im = static_cast<T>(grid_im(center_im, scale, width, height, j));
  if (julia) return escape_reference<T>(re, im, static_cast<T>(julia_re), static_cast<T>(julia_im), max_iter);
  return escape_reference<T>(T(0), T(0), re, im, max_iter);
}

}  // namespace fractal::cuda
