// A plain scalar IEEE double reference of docs/api.md's semantics, written
// straight from the formulas, for the tests to compare every backend with. The
// pixel -> complex mapping is kernels/grid_map.h, the one every backend uses.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/grid_map.h"
#include "kernels/renderer.h"

namespace fractal::test {

inline std::uint32_t reference_count(double z_re, double z_im, double c_re, double c_im, int max_iter) {
  for (int k = 0; k < max_iter; ++k) {
    if (z_re * z_re + z_im * z_im > 4.0) return static_cast<std::uint32_t>(k);
    const double next_re = z_re * z_re - z_im * z_im + c_re;
    z_im = 2.0 * z_re * z_im + c_im;
    z_re = next_re;
  }
  return static_cast<std::uint32_t>(max_iter);
}

inline double pixel_re(const RenderJob& j, int i) {
  return grid_re(j.center_re, j.scale, j.grid_width, i);
}
inline double pixel_im(const RenderJob& j, int row) {
  return grid_im(j.center_im, j.scale, j.grid_width, j.grid_height, row);
}

// Counts of the job's band, row-major.
inline std::vector<std::uint32_t> reference_counts(const RenderJob& j) {
  std::vector<std::uint32_t> out(static_cast<std::size_t>(j.rows) * j.grid_width);
  for (int r = 0; r < j.rows; ++r) {
    const double im = pixel_im(j, j.row0 + r);
    for (int i = 0; i < j.grid_width; ++i) {
      const double re = pixel_re(j, i);
      out[static_cast<std::size_t>(r) * j.grid_width + i] =
          j.fractal == FractalKind::julia ? reference_count(re, im, j.julia_re, j.julia_im, j.max_iter)
                                          : reference_count(0.0, 0.0, re, im, j.max_iter);
    }
  }
  return out;
}

}  // namespace fractal::test
