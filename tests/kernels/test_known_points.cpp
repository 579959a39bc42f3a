// Known points of the iteration semantics, on every backend and precision.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <tuple>
#include <vector>

#include "kernels/renderer.h"
#include "tests/kernels/backend_param.h"
#include "tests/kernels/reference.h"

namespace fractal {
namespace {

// A 1x1 grid centred on c renders exactly the point c.
std::uint32_t count_at(Renderer& r, Scalar s, FractalKind kind, double re, double im, int max_iter,
                       double julia_re = 0, double julia_im = 0) {
  std::uint32_t count = 0;
  RenderJob j;
  j.fractal = kind;
  j.center_re = re;
  j.center_im = im;
  j.scale = 1e-3;
  j.julia_re = julia_re;
  j.julia_im = julia_im;
  j.grid_width = j.grid_height = 1;
  j.rows = 1;
  j.max_iter = max_iter;
  j.scalar = s;
  j.counts = &count;
  RenderJob jobs[] = {j};
  r.render(jobs);
  EXPECT_EQ(jobs[0].iterations, count);
  return count;
}

class KnownPoints : public BackendTest {};

TEST_P(KnownPoints, ReferenceItself) {
  EXPECT_EQ(test::reference_count(0, 0, 1, 0, 100), 3u);
  EXPECT_EQ(test::reference_count(0, 0, -2, 0, 100), 100u);
}

TEST_P(KnownPoints, Mandelbrot) {
  Renderer& r = renderer();
  const Scalar s = scalar();
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, 1, 0, 100), 3u);
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, -2, 0, 100), 100u);
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, 0, 1, 100), 100u);
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, 0, 0, 100), 100u);
  // Main cardioid and period-2 bulb.
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, -0.1, 0.1, 5000), 5000u);
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, 0.2, 0.0, 5000), 5000u);
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, -1.0, 0.0, 5000), 5000u);
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, -1.1, 0.1, 5000), 5000u);
  // max_iter 1: every point that has not escaped at k = 0 reports 1.
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, 1, 0, 1), 1u);
  // Far outside: escapes at k = 1.
  EXPECT_EQ(count_at(r, s, FractalKind::mandelbrot, 3, 3, 100), 1u);
}

TEST_P(KnownPoints, SlowEscapesNearTheNeedleAndCusp) {
  if (scalar() == Scalar::f32) GTEST_SKIP() << "these counts need double precision";
  Renderer& r = renderer();
  EXPECT_EQ(count_at(r, Scalar::f64, FractalKind::mandelbrot, -0.75, 0.001, 10000), 3143u);
  EXPECT_EQ(count_at(r, Scalar::f64, FractalKind::mandelbrot, 0.25 + 1e-6, 0.0, 10000), 3140u);
}

TEST_P(KnownPoints, JuliaZeroIsTheUnitCircle) {
  Renderer& r = renderer();
  const Scalar s = scalar();
  for (double radius : {0.0, 0.3, 0.9, 0.99}) {
    for (double angle : {0.0, 1.0, 2.5, 4.0}) {
      EXPECT_EQ(count_at(r, s, FractalKind::julia, radius * std::cos(angle), radius * std::sin(angle), 300), 300u)
          << "radius " << radius;
    }
  }
  for (double radius : {1.01, 1.5, 2.5}) {
    const auto n = count_at(r, s, FractalKind::julia, radius * std::cos(0.7), radius * std::sin(0.7), 300);
    EXPECT_LT(n, 300u) << "radius " << radius;
    EXPECT_EQ(n, test::reference_count(radius * std::cos(0.7), radius * std::sin(0.7), 0, 0, 300));
  }
  // |z0| > 2 escapes at k = 0.
  EXPECT_EQ(count_at(r, s, FractalKind::julia, 2.5, 0.0, 300), 0u);
}

TEST_P(KnownPoints, JuliaWithLargeConstantCountsTheFirstEscape) {
  // |c| > 2: an orbit can leave radius 2 and come back (z0 = 2.1i, c = 3 gives
  // |z0|^2 = 4.41, then z1 = -1.41): the count is the FIRST escape, 0.
  EXPECT_EQ(count_at(renderer(), scalar(), FractalKind::julia, 0.0, 2.1, 100, 3.0, 0.0), 0u);
}

TEST_P(KnownPoints, ConjugateSymmetryOfMandelbrotRows) {
  // An even grid height centred on the real axis puts row j and row H-1-j at conjugate points.
  RenderJob j;
  j.center_re = -0.5;
  j.center_im = 0;
  j.scale = 3;
  j.grid_width = 123;
  j.grid_height = 82;
  j.rows = 82;
  j.max_iter = 200;
  j.scalar = scalar();
  std::vector<std::uint32_t> counts(static_cast<std::size_t>(j.grid_width) * j.grid_height);
  j.counts = counts.data();
  RenderJob jobs[] = {j};
  renderer().render(jobs);
  std::size_t equal = 0;
  for (int row = 0; row < j.grid_height / 2; ++row)
    for (int i = 0; i < j.grid_width; ++i)
      equal += counts[static_cast<std::size_t>(row) * j.grid_width + i] ==
               counts[static_cast<std::size_t>(j.grid_height - 1 - row) * j.grid_width + i];
  // z -> z^2 + conj(c) is the mirror of z -> z^2 + c in IEEE arithmetic too, so
  // mirrored rows match except where rounding of the row coordinate itself
  // differs by an ulp right on the set's boundary.
  EXPECT_GE(static_cast<double>(equal), 0.999 * j.grid_width * (j.grid_height / 2));
}

INSTANTIATE_BACKEND_SUITE(KnownPoints);

}  // namespace
}  // namespace fractal
