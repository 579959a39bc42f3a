// The CPU runner's inner loop: several samples of a pass iterated side by side.
//
// Most of a deep sample's time is its plain perturbation steps in double (the
// iterations BLA cannot skip: right before escape, and after each rebase),
// a chain of dependent multiply-adds of ~16 cycles a step. One sample at a
// time leaves the core idle on that latency; kLanes samples in one loop give
// the out-of-order core kLanes independent chains. Each lane does the plain
// step inline while nothing else can happen at this iteration, and hands the
// iteration to iterate_wide_once (perturbation.h) otherwise: escape or
// max_iter, rebase, end of the reference, a BLA probe, dz falling below
// double's comfortable range (then back to iterate_narrow, as iterate() does). The arithmetic and its
// order are those of iterate(), so every result equals iterate_sample's bit
// for bit (tests/kernels/test_deep.cpp checks it) as long as no FMA is
// contracted (deep_render.cpp, its one user, builds with -ffp-contract=off).
//
// Host only: the CUDA kernel runs one sample per thread and needs none of this.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/deep/sample_pass.h"

namespace fractal::deep {

inline constexpr int kLanes = 8;

// Iterates the pass's samples first .. last-1 (pass order), kLanes at a time;
// calls done(idx, result) once per sample (idx: its band index), in the order
// they finish.
template <class Done>
void iterate_samples_interleaved(const SamplePass& p, std::size_t first, std::size_t last, Done&& done) {
  const OrbitView& ref = p.orbit;
  const BlaView& bla = p.bla;
  const int max_iter = p.max_iter;
  const bool probes = bla.levels > 0;
  const double* const Zre = ref.re;
  const double* const Zim = ref.im;
  const int length = ref.length;

  double dr[kLanes], di[kLanes], dcr[kLanes], dci[kLanes];
  int n[kLanes], k[kLanes];
  CExp dc[kLanes];
  PixelResult out[kLanes];
  std::uint32_t idx[kLanes];
  bool live[kLanes];
  int active = 0;
  std::size_t next = first;

  // Starts the next sample that survives phase 1 in lane l (samples that
  // settle in phase 1 are delivered at once); false when none is left.
  auto refill = [&](int l) {
    while (next < last) {
      const std::uint32_t i = sample_index(p, next++);
      CExp dz0, c;
      sample_start(p, i, dz0, c);
      PixelResult r;
      double a = 0, b = 0;  // phase 1 from n = k = 0
      int nn = 0, kk = 0;
      if (iterate_narrow(ref, bla, dz0, c, max_iter, r, a, b, nn, kk)) {
        done(i, r);
        continue;
      }
      dr[l] = a;
      di[l] = b;
      n[l] = nn;
      k[l] = kk;
      dc[l] = c;
      dcr[l] = to_double_re(c);
      dci[l] = to_double_im(c);
      out[l] = r;
      idx[l] = i;
      return true;
    }
    return false;
  };
  for (int l = 0; l < kLanes; ++l) {
    live[l] = refill(l);
    active += live[l] ? 1 : 0;
  }

  while (active > 0) {
    for (int l = 0; l < kLanes; ++l) {
      if (!live[l]) continue;
      const double x = dr[l], y = di[l];
      const int nl = n[l];
      const double Zr = Zre[nl], Zi = Zim[nl];
      const double zr = Zr + x, zi = Zi + y;
      const double r2 = zr * zr + zi * zi;
      // What iterate_wide_once would do besides the plain step: settle, rebase
      // (or reach the reference's end), probe BLA. Same expressions as there.
      const bool other = !(r2 <= 4 && k[l] < max_iter) || nl + 1 >= length || r2 < x * x + y * y ||
                         (nl > 0 && zr == x && zi == y) || (probes && std::fabs(x) + std::fabs(y) < kBlaProbeBelow);
      if (!other) [[likely]] {
        const double tr = 2 * Zr + x, ti = 2 * Zi + y;
        const double nr = tr * x - ti * y + dcr[l];
        const double ni = tr * y + ti * x + dci[l];
        if (std::fabs(nr) + std::fabs(ni) >= kNarrowBelow) [[likely]] {
          dr[l] = nr;
          di[l] = ni;
          n[l] = nl + 1;
          ++k[l];
          continue;
        }
      }
      CExp back;
      Wide w = iterate_wide_once(ref, bla, dc[l], dcr[l], dci[l], max_iter, out[l], dr[l], di[l], n[l], k[l], back);
      if (w == Wide::narrow && !iterate_narrow(ref, bla, back, dc[l], max_iter, out[l], dr[l], di[l], n[l], k[l]))
        w = Wide::go_on;
      if (w != Wide::go_on) {  // settled, in phase 2 or back in phase 1
        done(idx[l], out[l]);
        if (!refill(l)) {
          live[l] = false;
          --active;
        }
      }
    }
  }
}

}  // namespace fractal::deep
