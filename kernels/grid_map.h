// The pixel -> complex mapping of docs/api.md ("Pixels and iterations"): the
// one definition used by the CPU backend, the CUDA backend (coordinate tables),
// the deep path and the tests' reference. Sample grids of supersampled tasks
// use it unchanged (kernels/renderer.h).
//
//   re(i) = center.re + ((i + 0.5)/W - 0.5) * scale
//   im(j) = center.im + (0.5 - (j + 0.5)/H) * scale * H / W
#pragma once

#include "kernels/host_device.h"
#include "kernels/rounding.h"

namespace fractal {

// In double, rounded operation by operation as the plain expressions above
// (explicit _rn operations on the device), so every backend iterates the same points.
FRACTAL_HD inline double grid_re(double center_re, double scale, int width, int i) {
  const double u = sub_rn(div_rn(add_rn(static_cast<double>(i), 0.5), static_cast<double>(width)), 0.5);
  return add_rn(center_re, mul_rn(u, scale));
}

FRACTAL_HD inline double grid_im(double center_im, double scale, int width, int height, int j) {
  const double v = sub_rn(0.5, div_rn(add_rn(static_cast<double>(j), 0.5), static_cast<double>(height)));
  return add_rn(center_im, div_rn(mul_rn(mul_rn(v, scale), static_cast<double>(height)), static_cast<double>(width)));
}

// The same offsets from the centre as fractions of scale, for views whose
// centre and scale are not doubles (deep zoom, and the MPFR references):
//   re(i) - center.re = (2i + 1 - W) / (2W) * scale
//   im(j) - center.im = (H - 2j - 1) / (2W) * scale
// Numerators and denominators are exact integers in double: one rounding each.
FRACTAL_HD inline double grid_re_fraction(int width, int i) {
  return div_rn(2.0 * i + 1.0 - width, 2.0 * width);
}
FRACTAL_HD inline double grid_im_fraction(int width, int height, int j) {
  return div_rn(static_cast<double>(height) - 2.0 * j - 1.0, 2.0 * width);
}
// Their integer numerators (exact for any grid; the MPFR references scale by them and divide by 2W).
FRACTAL_HD inline long long grid_re_numerator(int width, int i) { return 2LL * i + 1 - width; }
FRACTAL_HD inline long long grid_im_numerator(int height, int j) { return static_cast<long long>(height) - 2LL * j - 1; }

}  // namespace fractal
