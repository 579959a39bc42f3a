// Every backend x precision against the plain double reference on several
// views, square and odd-sized; batching, banding, cancellation and progress.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "kernels/renderer.h"
#include "tests/kernels/backend_param.h"
#include "tests/kernels/reference.h"
#include "tests/support/sanitizer_slowdown.h"

namespace fractal {
namespace {

struct View {
  const char* name;
  FractalKind kind;
  double re, im, scale;
  int w, h, max_iter;
  double jre = 0, jim = 0;
  bool shallow = true;  // float is held to 99 % on shallow views; deep ones are double only
};

const View kViews[] = {
    {"default_odd", FractalKind::mandelbrot, -0.5, 0.0, 3.0, 257, 193, 500},
    {"square_seahorse", FractalKind::mandelbrot, -0.745, 0.1, 0.05, 256, 256, 1000, 0, 0, false},
    {"square_shallow", FractalKind::mandelbrot, -0.75, 0.0, 2.5, 128, 128, 100},
    {"tall_narrow", FractalKind::mandelbrot, -1.25, 0.0, 0.6, 61, 211, 300},
    {"single_row", FractalKind::mandelbrot, -0.5, 0.3, 2.5, 1001, 1, 200},
    {"julia_dendrite", FractalKind::julia, 0.0, 0.0, 3.2, 301, 200, 500, -0.8, 0.156, false},
    {"julia_shallow", FractalKind::julia, 0.0, 0.0, 3.2, 151, 100, 100, -0.4, 0.6},
    {"julia_large_c", FractalKind::julia, 0.0, 0.0, 5.0, 99, 77, 100, 2.5, 0.5},
    {"deep_spiral", FractalKind::mandelbrot, -0.743643887037151, 0.131825904205330, 2e-9, 160, 120, 3000, 0, 0,
     false},
};

RenderJob make_job(const View& v, Scalar s, std::vector<std::uint32_t>& counts, std::vector<float>* mag2 = nullptr) {
  RenderJob j;
  j.fractal = v.kind;
  j.center_re = v.re;
  j.center_im = v.im;
  j.scale = v.scale;
  j.julia_re = v.jre;
  j.julia_im = v.jim;
  j.grid_width = v.w;
  j.grid_height = v.h;
  j.rows = v.h;
  j.max_iter = v.max_iter;
  j.scalar = s;
  counts.assign(static_cast<std::size_t>(v.w) * v.h, 0xdeadbeef);
  j.counts = counts.data();
  if (mag2) {
    mag2->assign(counts.size(), -1.0f);
    j.mag2 = mag2->data();
  }
  return j;
}

class AgainstReference : public BackendTest {};

TEST_P(AgainstReference, EveryView) {
  for (const View& v : kViews) {
    if (scalar() == Scalar::f32 && !v.shallow) continue;  // float cannot resolve 2e-9 / 160
    SCOPED_TRACE(v.name);
    std::vector<std::uint32_t> counts;
    RenderJob jobs[] = {make_job(v, scalar(), counts)};
    renderer().render(jobs);
    const auto ref = test::reference_counts(jobs[0]);
    std::size_t equal = 0, low_mismatch = 0;
    std::uint64_t sum = 0;
    for (std::size_t k = 0; k < ref.size(); ++k) {
      ASSERT_LE(counts[k], static_cast<std::uint32_t>(v.max_iter)) << "pixel " << k << " never written or out of range";
      equal += counts[k] == ref[k];
      if (ref[k] < 20 && counts[k] != ref[k]) ++low_mismatch;
      sum += counts[k];
    }
    const double fraction = static_cast<double>(equal) / static_cast<double>(ref.size());
    EXPECT_GE(fraction, scalar() == Scalar::f64 ? 0.999 : 0.99) << equal << " of " << ref.size() << " equal";
    if (scalar() == Scalar::f64) EXPECT_EQ(low_mismatch, 0u) << "pixels with count < 20 must be exact";
    else EXPECT_LE(low_mismatch, ref.size() / 10000) << "float: low counts essentially exact";
    EXPECT_EQ(jobs[0].iterations, sum);
    EXPECT_FALSE(jobs[0].canceled);
  }
}

TEST_P(AgainstReference, MagnitudeAtEscape) {
  const View& v = kViews[0];
  std::vector<std::uint32_t> counts;
  std::vector<float> mag2;
  RenderJob jobs[] = {make_job(v, scalar(), counts, &mag2)};
  renderer().render(jobs);
  std::size_t escaped = 0;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] >= static_cast<std::uint32_t>(v.max_iter)) continue;
    ++escaped;
    // |z_k|^2 > 4 at the escape step, and bounded: |z_{k-1}| <= 2 so |z_k| <= 4 + |c|.
    ASSERT_GT(mag2[k], 4.0f) << "pixel " << k;
    ASSERT_LT(mag2[k], 64.0f) << "pixel " << k;
  }
  EXPECT_GT(escaped, counts.size() / 2);
}

TEST_P(AgainstReference, BatchOfMixedJobsMatchesSeparateRenders) {
  // Several views, bands of one view and both precisions in ONE call.
  std::vector<std::vector<std::uint32_t>> batch_counts(6), single_counts(6);
  std::vector<RenderJob> batch;
  const View& big = kViews[1];
  batch.push_back(make_job(kViews[0], scalar(), batch_counts[0]));
  batch.push_back(make_job(kViews[5], scalar(), batch_counts[1]));
  batch.push_back(make_job(kViews[4], Scalar::f64, batch_counts[2]));
  for (int band = 0; band < 3; ++band) {  // the seahorse view cut into 3 bands of 100, 100, 56 rows
    RenderJob j = make_job(big, scalar(), batch_counts[3 + band]);
    j.row0 = band * 100;
    j.rows = std::min(100, big.h - j.row0);
    batch.push_back(j);
  }
  renderer().render(batch);
  std::vector<std::uint32_t> whole;
  RenderJob whole_job[] = {make_job(big, scalar(), whole)};
  renderer().render(whole_job);
  for (int band = 0; band < 3; ++band) {
    const RenderJob& j = batch[3 + band];
    for (int r = 0; r < j.rows; ++r)
      for (int i = 0; i < big.w; ++i)
        ASSERT_EQ(batch_counts[3 + band][static_cast<std::size_t>(r) * big.w + i],
                  whole[static_cast<std::size_t>(j.row0 + r) * big.w + i])
            << "band " << band << " row " << r << " col " << i;
  }
  for (int k = 0; k < 3; ++k) {
    const View& v = k == 0 ? kViews[0] : k == 1 ? kViews[5] : kViews[4];
    std::vector<std::uint32_t> alone;
    RenderJob job[] = {make_job(v, k == 2 ? Scalar::f64 : scalar(), alone)};
    renderer().render(job);
    EXPECT_EQ(alone, batch_counts[k]) << v.name;
    EXPECT_EQ(job[0].iterations, batch[k].iterations) << v.name;
  }
}

TEST_P(AgainstReference, CancelBeforeStartRendersNothingAndOthersFinish) {
  std::vector<std::uint32_t> a, b;
  std::atomic<bool> stop{true};
  std::atomic<std::uint64_t> progress_a{0}, progress_b{0};
  RenderJob jobs[] = {make_job(kViews[1], scalar(), a), make_job(kViews[0], scalar(), b)};
  jobs[0].cancel = &stop;
  jobs[0].progress = &progress_a;
  jobs[1].progress = &progress_b;
  renderer().render(jobs);
  EXPECT_TRUE(jobs[0].canceled);
  EXPECT_FALSE(jobs[1].canceled);
  EXPECT_EQ(progress_b.load(), static_cast<std::uint64_t>(kViews[0].w) * kViews[0].h);
  EXPECT_LT(progress_a.load(), static_cast<std::uint64_t>(kViews[1].w) * kViews[1].h);
}

TEST_P(AgainstReference, CancelStopsALongRenderQuickly) {
  // A large view deep in the set: about 3e10 iterations, far longer than the test allows.
  std::vector<std::uint32_t> counts(static_cast<std::size_t>(4096) * 2048);
  RenderJob j;
  j.center_re = -0.1;
  j.center_im = 0.1;
  j.scale = 0.01;
  j.grid_width = 4096;
  j.grid_height = 2048;
  j.rows = 2048;
  j.max_iter = 1'000'000;
  j.scalar = scalar();
  j.counts = counts.data();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> progress{0};
  j.cancel = &stop;
  j.progress = &progress;
  RenderJob jobs[] = {j};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
  });
  renderer().render(jobs);
  canceller.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(jobs[0].canceled);
  EXPECT_LT(seconds, 5.0 * fractal::test::kSanitizerSlowdown) << "cancel must stop the render between tiles";
}

TEST_P(AgainstReference, AutoPrecisionRule) {
  // Where precision "auto" picks float, float must match double on >= 99.9 %:
  // boundary-rich views right at the rule's edge (finest spacing, longest orbits).
  if (scalar() == Scalar::f64) GTEST_SKIP() << "compares float with double";
  const double spacing = std::ldexp(1.0, -kFloatSpacingLog2);
  const struct { double re, im; } centers[] = {{-0.5, 0}, {-0.745, 0.1}, {-1.25, 0.02}, {0.28, 0.008}, {-0.16, 1.035}};
  for (const auto& c : centers) {
    View v{"edge", FractalKind::mandelbrot, c.re, c.im, spacing * 400, 400, 300, kFloatMaxIter};
    std::vector<std::uint32_t> f, d;
    RenderJob jobs[] = {make_job(v, Scalar::f32, f), make_job(v, Scalar::f64, d)};
    renderer().render(jobs);
    std::size_t equal = 0;
    for (std::size_t k = 0; k < f.size(); ++k) equal += f[k] == d[k];
    EXPECT_GE(static_cast<double>(equal) / f.size(), 0.999) << "center " << c.re << "," << c.im;
  }
}

INSTANTIATE_BACKEND_SUITE(AgainstReference);

}  // namespace
}  // namespace fractal
