#include "kernels/deep/sample_lanes.h"

#include <algorithm>
#include <cmath>

namespace fractal::deep {
namespace {

// Four samples side by side: one AVX2 register of doubles (two SSE2 ones on
// the default target). The plain step is a chain of dependent operations
// (~14 cycles of latency for a handful of instructions): four independent
// chains in one instruction stream fill the pipeline where one sample cannot.
constexpr int kLanes = 4;
typedef double VD __attribute__((vector_size(kLanes * sizeof(double))));
typedef long long VM __attribute__((vector_size(kLanes * sizeof(double))));

// A sample's scalar state, kept between its runs in a lane.
struct Sample {
  std::uint32_t idx = 0;
  PixelResult out;
  CExp dc;
  double dcr = 0, dci = 0;
  double dr = 0, di = 0;  // phase 2: dz in double at (n, k)
  int n = 0, k = 0;
};

// Where a lane takes over: phase 2 at n > 0 (the rebase test's n > 0 holds)
// and outside the zone where iterate_wide_once probes the BLA table.
inline bool lane_ready(const SamplePass& p, const Sample& s) {
  return s.n > 0 && !(p.bla.levels > 0 && std::fabs(s.dr) + std::fabs(s.di) < kBlaProbeBelow);
}

// Runs s (in phase 2) on the scalar path for at least one iteration, until
// it settles (true: s.out holds its result) or is lane-ready again. The same
// sequence of calls as iterate().
bool advance(const SamplePass& p, Sample& s) {
  for (;;) {
    CExp back;
    const Wide w = iterate_wide_once(p.orbit, p.bla, s.dc, s.dcr, s.dci, p.max_iter, s.out, s.dr, s.di, s.n, s.k, back);
    if (w == Wide::settled) return true;
    if (w == Wide::narrow && iterate_narrow(p.orbit, p.bla, back, s.dc, p.max_iter, s.out, s.dr, s.di, s.n, s.k))
      return true;
    if (lane_ready(p, s)) return false;
  }
}

// Starts the sample at band index idx (phase 1, then scalar until lane-ready);
// true: it settled on the way.
bool start(const SamplePass& p, std::uint32_t idx, Sample& s) {
  // Field by field: `s = Sample{}` compiles to a rep stos, ~10 % of this loop's time in a profile.
  s.idx = idx;
  s.out = PixelResult{};
  s.dr = s.di = 0;
  s.n = s.k = 0;
  CExp dz0;
  sample_start(p, idx, dz0, s.dc);
  s.dcr = to_double_re(s.dc);
  s.dci = to_double_im(s.dc);
  if (iterate_narrow(p.orbit, p.bla, dz0, s.dc, p.max_iter, s.out, s.dr, s.di, s.n, s.k)) return true;
  return lane_ready(p, s) ? false : advance(p, s);
}

struct Lanes {
  VD dr, di, dcr, dci;
  const double* re[kLanes];  // the orbit at each lane's n
  const double* im[kLanes];
};

// Plain perturbation steps of all lanes together, as long as each lane's next
// iteration in iterate_wide_once would be one (not settled, no rebase, no BLA
// probe, no hand-back to phase 1) and fewer than `budget` were done (the
// iteration and reference limits, checked by the caller). Returns the number
// of steps done; `stop` flags the lanes whose next iteration is not a plain
// step. The expressions are iterate_wide_once's, operation for operation.
__attribute__((target_clones("avx2", "default"))) int plain_steps(Lanes& l, int budget, bool probe,
                                                                   long long* stop) {
  VD dr = l.dr, di = l.di;
  const VD dcr = l.dcr, dci = l.dci;
  // (Helpers taking or returning VD would be functions with an ABI of their
  // own on the default target: everything stays in this function.)
  const VD zero = {0, 0, 0, 0};
  const VD two = zero + 2.0, four = zero + 4.0, narrow_below = zero + kNarrowBelow;
  // Without a BLA table no probe: |dr| + |di| < 0 never holds.
  const VD probe_below = zero + (probe ? kBlaProbeBelow : 0.0);
  const VM no_sign = {0x7fffffffffffffffLL, 0x7fffffffffffffffLL, 0x7fffffffffffffffLL, 0x7fffffffffffffffLL};
#define FRACTAL_ABS(x) reinterpret_cast<VD>(reinterpret_cast<VM>(x) & no_sign)
  int s = 0;
  VM bad;
  for (;;) {
    const VD Zr = {l.re[0][s], l.re[1][s], l.re[2][s], l.re[3][s]};
    const VD Zi = {l.im[0][s], l.im[1][s], l.im[2][s], l.im[3][s]};
    const VD zr = Zr + dr, zi = Zi + di;
    const VD r2 = zr * zr + zi * zi;
    const VD tr = two * Zr + dr, ti = two * Zi + di;
    const VD nr = tr * dr - ti * di + dcr;
    const VD ni = tr * di + ti * dr + dci;
    bad = ~(r2 <= four) | (r2 < dr * dr + di * di) | ((zr == dr) & (zi == di)) |
          (FRACTAL_ABS(dr) + FRACTAL_ABS(di) < probe_below) | (FRACTAL_ABS(nr) + FRACTAL_ABS(ni) < narrow_below);
    if ((bad[0] | bad[1] | bad[2] | bad[3]) != 0 || s == budget) break;
    dr = nr;
    di = ni;
    ++s;
  }
#undef FRACTAL_ABS
  l.dr = dr;
  l.di = di;
  for (int i = 0; i < kLanes; ++i) stop[i] = bad[i];
  return s;
}

}  // namespace

void iterate_samples_one_by_one(const SamplePass& pass, std::size_t first, std::size_t last, SampleSink& sink) {
  for (std::size_t q = first; q < last; ++q) {
    const std::uint32_t idx = sample_index(pass, q);
    sink.done(idx, iterate_sample(pass, idx));
  }
}

void iterate_samples_in_lanes(const SamplePass& p, std::size_t first, std::size_t last, SampleSink& sink) {
  Sample s[kLanes];
  bool active[kLanes];
  std::size_t q = first;
  // Lane i takes the next sample that does not settle before it is lane-ready.
  auto fill = [&](int i) {
    while (q < last) {
      const std::uint32_t idx = sample_index(p, q++);
      if (!start(p, idx, s[i])) return true;
      sink.done(idx, s[i].out);
    }
    return false;
  };
  bool all = true;
  for (int i = 0; i < kLanes; ++i) all = (active[i] = fill(i)) && all;
  const bool probe = p.bla.levels > 0;
  const int length = p.orbit.length;
  while (all) {
    Lanes l;
    int budget = p.max_iter;
    for (int i = 0; i < kLanes; ++i) {
      l.dr[i] = s[i].dr;
      l.di[i] = s[i].di;
      l.dcr[i] = s[i].dcr;
      l.dci[i] = s[i].dci;
      l.re[i] = p.orbit.re + s[i].n;
      l.im[i] = p.orbit.im + s[i].n;
      budget = std::min({budget, p.max_iter - s[i].k, length - 1 - s[i].n});
    }
    long long stop[kLanes];
    const int steps = plain_steps(l, budget, probe, stop);
    for (int i = 0; i < kLanes; ++i) {
      s[i].dr = l.dr[i];
      s[i].di = l.di[i];
      s[i].n += steps;
      s[i].k += steps;
      if (stop[i] == 0 && s[i].k < p.max_iter && s[i].n + 1 < length) continue;
      if (advance(p, s[i])) {
        sink.done(s[i].idx, s[i].out);
        all = (active[i] = fill(i)) && all;
      }
    }
  }
  // Too few samples left to fill the lanes: the rest one at a time.
  for (int i = 0; i < kLanes; ++i) {
    if (!active[i]) continue;
    while (!advance(p, s[i])) {
    }
    sink.done(s[i].idx, s[i].out);
  }
}

}  // namespace fractal::deep
