#include "kernels/deep/sample_lanes.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace fractal::deep {
namespace {

// Four samples side by side: one AVX2 register of doubles (two SSE2 ones on
// the default target). The plain step is a chain of dependent operations
// (~14 cycles of latency for a handful of instructions): four independent
// chains in one instruction stream fill the pipeline where one sample cannot.
constexpr int kLanes = 4;
typedef double VD __attribute__((vector_size(kLanes * sizeof(double))));
typedef long long VM __attribute__((vector_size(kLanes * sizeof(double))));

// Lane-wise helpers as macros: functions taking or returning VD would have an
// ABI of their own on the default target (-Wpsabi), so the kernels below keep
// everything in their own bodies.
// |x| by clearing the sign bits.
#define FRACTAL_ABS(x) \
  reinterpret_cast<VD>(reinterpret_cast<VM>(x) & \
                       VM{0x7fffffffffffffffLL, 0x7fffffffffffffffLL, 0x7fffffffffffffffLL, 0x7fffffffffffffffLL})
// x in every lane. (Not zero + x: that turns Z = -0 into +0, and the sign of a zero result with it.)
#define FRACTAL_SPLAT(x) VD{(x), (x), (x), (x)}
// Whether any lane of the mask m is set.
#define FRACTAL_ANY(m) (((m)[0] | (m)[1] | (m)[2] | (m)[3]) != 0)
// Whether every lane set in `live` is set in m too.
#define FRACTAL_ALL_LIVE(m, live) (!FRACTAL_ANY((live) & ~(m)))

// A sample's scalar state, kept between its runs in a lane.
struct Sample {
  std::uint32_t idx = 0;
  PixelResult out;
  CExp dc;
  double dcr = 0, dci = 0;
  double dr = 0, di = 0;  // phase 2: dz in double at (n, k)
  int n = 0, k = 0;
  bool narrow = false;  // in phase 1 at (n, k), dz in CExp
  CExp dz;
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

// Starts the sample at band index idx: a sample whose dz starts below
// double's range is left at the start of phase 1 (s.narrow: for group_narrow,
// then finish_narrow); one in double's range is taken through iterate_narrow's
// (empty) phase 1 to phase 2 at n = 0. true: it settled on the way.
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
  // iterate_narrow's own test: a sample below double's range stays in phase 1 (the groups take it from here).
  const bool dz_zero = dz0.re == 0 && dz0.im == 0;
  const CExp& dc = s.dc;
  if (!(dz_zero ? (dc.re == 0 && dc.im == 0) || dc.e >= kDoubleFrom : dz0.e >= kDoubleFrom)) {
    s.narrow = true;
    s.dz = dz0;
    return false;
  }
  s.narrow = false;
  return iterate_narrow(p.orbit, p.bla, dz0, s.dc, p.max_iter, s.out, s.dr, s.di, s.n, s.k);
}

// Finishes phase 1 of s on the scalar path; true: it settled.
bool finish_narrow(const SamplePass& p, Sample& s) {
  if (!s.narrow) return false;
  s.narrow = false;
  return iterate_narrow(p.orbit, p.bla, s.dz, s.dc, p.max_iter, s.out, s.dr, s.di, s.n, s.k);
}

// A sample leaving its group at (n, k): its reference index and iteration,
// plus the group's BLA-skipped iterations and rebases up to there.
inline void leave_group(Sample& s, int n, int k, std::uint32_t skipped, std::uint32_t rebases) {
  s.n = n;
  s.k = k;
  s.out.skipped += skipped;
  s.out.rebases += rebases;
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
    if (FRACTAL_ANY(bad) || s == budget) break;
    dr = nr;
    di = ni;
    ++s;
  }
  l.dr = dr;
  l.di = di;
  for (int i = 0; i < kLanes; ++i) stop[i] = bad[i];
  return s;
}

// The radius r as a double for comparing |dz| >= 2^-1000 against it:
// exact where r is a normal double, 0 (no |dz| is below it) where r is 0 or
// below double's normal range.
inline double radius_double(const FExp& r) { return r.m == 0 || r.e < -1021 ? 0.0 : r.m * pow2(r.e); }

// Groups: up to four neighbouring samples at the same reference index and
// iteration (all start together at n = 0, and neighbours' orbits stay close),
// stepped together while each would take the same step on its own: plain
// steps with one Z_n for all, a rebase when every lane needs one at once, and
// BLA steps with one climb through the levels for the group, each lane's |dz|
// compared against each radius (find_bla's test, on exact doubles), and one
// A dz + B dc for all. A lane whose own iteration would differ (another
// level, a settled sample, a rebase of its own, a hand-back to phase 1, the
// CExp form, the iteration or reference limit) leaves the group with its
// state before that iteration; the caller goes on with it in the lanes
// (stage 2) or on the scalar path. A group down to kMinGroup - 1 lanes breaks
// up. in[i]: lane i is in the group (every such lane at the same n and k, in
// phase 2); all are false on return.
constexpr int kMinGroup = 3;
__attribute__((target_clones("avx2", "default"))) void group_steps(const SamplePass& p, Sample* g, bool* in) {
  const VD zero = {0, 0, 0, 0};
  const BlaView& bla = p.bla;
  VD dr = zero, di = zero, dcr = zero, dci = zero;
  VM live = {0, 0, 0, 0};
  int n = -1, k = 0;
  for (int i = 0; i < kLanes; ++i) {
    if (!in[i]) continue;
    dr[i] = g[i].dr;
    di[i] = g[i].di;
    dcr[i] = g[i].dcr;
    dci[i] = g[i].dci;
    live[i] = -1;
    n = g[i].n;
    k = g[i].k;
  }
  if (n < 0) return;
  // The group's BLA-skipped iterations and rebases so far, and its state before this iteration.
  std::uint32_t added = 0, rebases = 0;
  VD pdr = dr, pdi = di;
  int pn = n, pk = k;
  std::uint32_t padded = 0, prebases = 0;
  // Lanes in `leave` (and live) drop out with the state before this iteration.
  auto drop = [&](const VM& leave) {
    for (int i = 0; i < kLanes; ++i) {
      if (!(live[i] & leave[i])) continue;
      g[i].dr = pdr[i];
      g[i].di = pdi[i];
      leave_group(g[i], pn, pk, padded, prebases);
      in[i] = false;
      live[i] = 0;
    }
    return FRACTAL_ANY(live);
  };
  const VM all = {-1, -1, -1, -1};
  const bool have_bla = bla.levels > 0;
  for (;;) {
    // Plain steps while no live lane needs anything else: iterate_wide_once's
    // tests and step, as in stage 2, with one Z_n for all (the lanes not live
    // compute values nobody reads).
    // The probe-zone test of an iteration is |nr| + |ni| of the step before
    // (its dz), taken with the hand-back test on the same sum: a step whose
    // successor would probe is still taken here, then the loop ends.
    const VD narrow_below = zero + kNarrowBelow, probe_below = zero + (have_bla ? kBlaProbeBelow : 0.0);
    const VM zone_now = live & (FRACTAL_ABS(dr) + FRACTAL_ABS(di) < probe_below);
    if (n > 0 && !FRACTAL_ANY(zone_now)) {
      for (int left = std::min(p.max_iter - k, p.orbit.length - 1 - n); left > 0; --left) {
        const double Zr = p.orbit.re[n], Zi = p.orbit.im[n];
        const VD zr = FRACTAL_SPLAT(Zr) + dr, zi = FRACTAL_SPLAT(Zi) + di;
        const VD r2 = zr * zr + zi * zi;
        const VD tr = FRACTAL_SPLAT(2 * Zr) + dr, ti = FRACTAL_SPLAT(2 * Zi) + di;
        const VD nr = tr * dr - ti * di + dcr;
        const VD ni = tr * di + ti * dr + dci;
        const VD sum = FRACTAL_ABS(nr) + FRACTAL_ABS(ni);
        const VM bad = live & (~(r2 <= 4.0) | (r2 < dr * dr + di * di) | ((zr == dr) & (zi == di)) | (sum < narrow_below));
        const VM stop = bad | (live & (sum < probe_below));
        if (FRACTAL_ANY(stop)) {
          if (!FRACTAL_ANY(bad)) {
            dr = nr;
            di = ni;
            ++n;
            ++k;
          }
          break;
        }
        dr = nr;
        di = ni;
        ++n;
        ++k;
      }
    }
    pdr = dr;
    pdi = di;
    pn = n;
    pk = k;
    padded = added;
    prebases = rebases;
    // iterate_wide_once: settled, the limits, the rebase.
    double Zr = p.orbit.re[n], Zi = p.orbit.im[n];
    const VD zr = FRACTAL_SPLAT(Zr) + dr, zi = FRACTAL_SPLAT(Zi) + di;
    const VD r2 = zr * zr + zi * zi;
    VM leave = ~(r2 <= 4.0);
    // The limits; and a group down to kMinGroup - 1 lanes breaks up: one
    // chain of dependent steps leaves the core idle where the lanes of stage
    // 2 run four samples' chains side by side.
    if (k >= p.max_iter || n + 1 >= p.orbit.length || -(live[0] + live[1] + live[2] + live[3]) < kMinGroup) leave = all;
    if (!drop(leave)) break;
    VM rebase = r2 < dr * dr + di * di;
    if (n > 0) rebase |= (zr == dr) & (zi == di);
    if (FRACTAL_ALL_LIVE(rebase, live)) {
      // Every lane rebases: dz := z - Z_0, n := 0.
      dr = zr - p.orbit.re[0];
      di = zi - p.orbit.im[0];
      n = 0;
      ++rebases;
      Zr = p.orbit.re[0];
      Zi = p.orbit.im[0];
    } else if (!drop(rebase)) {
      break;
    }
    // The probe zone, and |dz| as magnitude(normalized(dr, di, 0)) has it, as
    // an exact double, where find_bla looks at it; there lanes below 2^-1000
    // (normalized's ldexp path, dz = 0) leave.
    const VD adr = FRACTAL_ABS(dr), adi = FRACTAL_ABS(di);
    VM zone = {0, 0, 0, 0};
    if (have_bla) zone = adr + adi < kBlaProbeBelow;
    const int rel = n - bla.origin;
    const bool probe = have_bla && n >= bla.origin && rel < bla.level_count[0] && k + 1 <= p.max_iter;
    const VD mx = adr > adi ? adr : adi;
    if (probe && !drop(zone & ~(mx >= 0x1p-1000))) break;
    // find_bla for every lane in the zone at once: valid levels form a prefix 0..L; count = L + 1 (0: no BLA step).
    VM count = {0, 0, 0, 0};
    if (probe && FRACTAL_ANY(zone)) {
      const VM shift = ((reinterpret_cast<VM>(mx) >> 52) & 0x7ff) - 1022;
      const VD f = reinterpret_cast<VD>((1023 - shift) << 52);  // 2^-shift
      const VD nre = dr * f, nim = di * f;
      const VD sum = nre * nre + nim * nim;
      VD root;
      for (int i = 0; i < kLanes; ++i) root[i] = std::sqrt(sum[i]);
      const VD mag = root * reinterpret_cast<VD>((shift + 1023) << 52);
      VM valid = zone & (mag < radius_double(bla.entries[bla.level_start[0] + rel].r));
      count -= valid;
      int top = bla.levels - 1;
      if (rel != 0) top = std::min(top, lowest_bit(static_cast<unsigned>(rel)));
      for (int l = 0; l < top && FRACTAL_ANY(valid); ++l) {
        const int m = rel >> (l + 1);
        if (m >= bla.level_count[l + 1] || k + (2 << l) > p.max_iter) break;
        valid &= mag < radius_double(bla.entries[bla.level_start[l + 1] + m].r);
        count -= valid;
      }
    }
    long long first = -1;
    for (int i = 0; i < kLanes; ++i)
      if (live[i] && first < 0) first = count[i];
    if (!drop(count != first)) break;
    if (first == 0) {
      // No BLA step: the plain step.
      const VD tr = FRACTAL_SPLAT(2 * Zr) + dr, ti = FRACTAL_SPLAT(2 * Zi) + di;
      const VD nr = tr * dr - ti * di + dcr;
      const VD ni = tr * di + ti * dr + dci;
      if (!drop(FRACTAL_ABS(nr) + FRACTAL_ABS(ni) < kNarrowBelow)) break;
      dr = live ? nr : dr;
      di = live ? ni : di;
      ++n;
      ++k;
      continue;
    }
    const int level = static_cast<int>(first) - 1;
    const BlaEntry* e = &bla.entries[bla.level_start[level] + (rel >> level)];
    // iterate_wide_once's step in plain double; every lane's dc is in range (checked when it joined).
    if (!(e->a.e > -960 && e->a.e < 960 && e->b.e > -960 && e->b.e < 960)) {
      drop(all);
      break;
    }
    const double fa = pow2(e->a.e), fb = pow2(e->b.e);
    const double ar = e->a.re * fa, ai = e->a.im * fa, br = e->b.re * fb, bi = e->b.im * fb;
    const VD Ar = FRACTAL_SPLAT(ar), Ai = FRACTAL_SPLAT(ai), Br = FRACTAL_SPLAT(br), Bi = FRACTAL_SPLAT(bi);
    const VD nr = (Ar * dr - Ai * di) + (Br * dcr - Bi * dci);
    const VD ni = (Ar * di + Ai * dr) + (Br * dci + Bi * dcr);
    if (!drop(FRACTAL_ABS(nr) + FRACTAL_ABS(ni) < kNarrowBelow)) break;
    dr = live ? nr : dr;
    di = live ? ni : di;
    const int steps = 1 << level;
    n += steps;
    k += steps;
    added += static_cast<std::uint32_t>(steps);
  }
}

// Phase 1 (dz below double's range, in CExp) for a group of neighbours at the
// same n and k, as group_steps does phase 2: while every lane's iteration in
// iterate_narrow is a BLA step of the same level (or a rebase of a periodic
// reference at 0, which leaves dz as it is when Z_0 = 0), one climb and one
// add(mul(A, dz), mul(B, dc)) in CExp for all, as SIMD lanes with the same
// roundings (mantissa products, normalisation by powers of two, exponent
// alignment). A step without BLA is iterate_narrow's step(), lane by lane. A
// lane that would do anything else leaves with its state before that
// iteration (s.narrow, s.dz); a lane whose dz enters double's range leaves
// with its phase-2 state (dr, di), unless all do at once: then the group is
// in phase 2 at the same n and k (the caller groups by n and k again for
// group_steps). in[i]: lane i is in the group (s.narrow, Mandelbrot).
__attribute__((target_clones("avx2", "default"))) void group_narrow(const SamplePass& p, Sample* g, bool* in) {
  const VD zero = {0, 0, 0, 0};
  // 2^e for e in [-1022, 1023] (bits), and pow2's 0 below -1022.
#define FRACTAL_POW2(e) reinterpret_cast<VD>(((e) + 1023) << 52)
  const BlaView& bla = p.bla;
  VD re = zero, im = zero, cre = zero, cim = zero;  // dz and dc, CExp mantissas
  VM ex = {0, 0, 0, 0}, cex = {0, 0, 0, 0};         // and exponents
  VM live = {0, 0, 0, 0};
  int n = -1, k = 0;
  for (int i = 0; i < kLanes; ++i) {
    if (!in[i]) continue;
    re[i] = g[i].dz.re;
    im[i] = g[i].dz.im;
    ex[i] = g[i].dz.e;
    cre[i] = g[i].dc.re;
    cim[i] = g[i].dc.im;
    cex[i] = g[i].dc.e;
    live[i] = -1;
    n = g[i].n;
    k = g[i].k;
  }
  if (n < 0) return;
  std::uint32_t added = 0, rebases = 0;
  VD pre = re, pim = im;
  VM pex = ex;
  int pn = n, pk = k;
  std::uint32_t padded = 0, prebases = 0;
  auto drop = [&](const VM& leave) {
    for (int i = 0; i < kLanes; ++i) {
      if (!(live[i] & leave[i])) continue;
      g[i].dz = CExp{pre[i], pim[i], static_cast<int>(pex[i])};
      leave_group(g[i], pn, pk, padded, prebases);
      in[i] = false;
      live[i] = 0;
    }
    return FRACTAL_ANY(live);
  };
  const VM all = {-1, -1, -1, -1};
  // normalized(r, i, e) for every lane; lanes where it would take its slow
  // paths (a nonzero max below 2^-1000) are flagged in `odd`.
  auto normalize = [&](VD& r, VD& i, VM& e, VM& odd) {
    const VD ar = FRACTAL_ABS(r), ai = FRACTAL_ABS(i);
    const VD m = ar > ai ? ar : ai;
    const VM is_zero = m == 0.0;
    odd |= ~is_zero & (m < 0x1p-1000);
    const VM shift = ((reinterpret_cast<VM>(m) >> 52) & 0x7ff) - 1022;
    const VD f = reinterpret_cast<VD>((1023 - shift) << 52);
    r = is_zero ? zero : r * f;
    i = is_zero ? zero : i * f;
    e = is_zero ? VM{0, 0, 0, 0} : e + shift;
  };
  for (;;) {
    pre = re;
    pim = im;
    pex = ex;
    pn = n;
    pk = k;
    padded = added;
    prebases = rebases;
    // iterate_narrow: settled (z = Z_n + dz in double), the end of the reference, a reference at 0.
    const double Zr = p.orbit.re[n], Zi = p.orbit.im[n];
    const VM exc = ex < -1022 ? VM{-1022, -1022, -1022, -1022} : ex;
    const VM tiny = ex < -1022;
    const VD dzr = tiny ? zero : re * FRACTAL_POW2(exc), dzi = tiny ? zero : im * FRACTAL_POW2(exc);
    const VD zr = FRACTAL_SPLAT(Zr) + dzr, zi = FRACTAL_SPLAT(Zi) + dzi;
    const VD r2 = zr * zr + zi * zi;
    VM leave = ~(r2 <= 4.0);
    if (k >= p.max_iter || n + 1 >= p.orbit.length) leave = all;
    if (!drop(leave)) break;
    if (n > 0 && Zr == 0 && Zi == 0) {
      // A periodic reference back at 0: dz := Z_n + dz - Z_0, n := 0, which
      // is dz itself (normalised already) when Z_0 = 0.
      if (p.orbit.re[0] != 0 || p.orbit.im[0] != 0) {
        drop(all);
        break;
      }
      n = 0;
      ++rebases;
    }
    // find_bla with magnitude(dz) as an FExp (mantissa, exponent) per lane.
    const int rel = n - bla.origin;
    const bool probe = bla.levels > 0 && n >= bla.origin && rel < bla.level_count[0] && k + 1 <= p.max_iter;
    VM count = {0, 0, 0, 0};
    if (probe) {
      if (!drop((re == 0.0) & (im == 0.0))) break;  // magnitude 0: not here
      const VD sum = re * re + im * im;
      VD root;
      for (int i = 0; i < kLanes; ++i) root[i] = std::sqrt(sum[i]);
      const VM s2 = ((reinterpret_cast<VM>(root) >> 52) & 0x7ff) - 1022;
      const VD mm = root * reinterpret_cast<VD>((1023 - s2) << 52);
      const VM me = ex + s2;
      // less(magnitude, r) per lane. (Out by reference: a lambda returning a
      // vector would have an ABI of its own on the default target.)
      auto below = [&](const FExp& r, VM& out) {
        const VM re_ = VM{0, 0, 0, 0} + r.e;
        out = (me < re_) | ((me == re_) & (mm < r.m));
        if (r.m == 0) out = VM{0, 0, 0, 0};
      };
      VM valid, next;
      below(bla.entries[bla.level_start[0] + rel].r, valid);
      count -= valid;
      int top = bla.levels - 1;
      if (rel != 0) top = std::min(top, lowest_bit(static_cast<unsigned>(rel)));
      for (int l = 0; l < top && FRACTAL_ANY(valid); ++l) {
        const int m = rel >> (l + 1);
        if (m >= bla.level_count[l + 1] || k + (2 << l) > p.max_iter) break;
        below(bla.entries[bla.level_start[l + 1] + m].r, next);
        valid &= next;
        count -= valid;
      }
    }
    long long first = -1;
    for (int i = 0; i < kLanes; ++i)
      if (live[i] && first < 0) first = count[i];
    if (!drop(count != first)) break;
    if (first == 0) {
      // No BLA step: iterate_narrow's step(), lane by lane.
      for (int i = 0; i < kLanes; ++i) {
        if (!live[i]) continue;
        const CExp d = step(Zr, Zi, CExp{re[i], im[i], static_cast<int>(ex[i])}, g[i].dc);
        re[i] = d.re;
        im[i] = d.im;
        ex[i] = d.e;
      }
      ++n;
      ++k;
    } else {
      const int level = static_cast<int>(first) - 1;
      const BlaEntry* e = &bla.entries[bla.level_start[level] + (rel >> level)];
      VM odd = {0, 0, 0, 0};
      // mul(A, dz), mul(B, dc)
      const double ar = e->a.re, ai = e->a.im, br = e->b.re, bi = e->b.im;
      VD xr = FRACTAL_SPLAT(ar) * re - FRACTAL_SPLAT(ai) * im;
      VD xi = FRACTAL_SPLAT(ar) * im + FRACTAL_SPLAT(ai) * re;
      VM xe = ex + e->a.e;
      normalize(xr, xi, xe, odd);
      VD yr = FRACTAL_SPLAT(br) * cre - FRACTAL_SPLAT(bi) * cim;
      VD yi = FRACTAL_SPLAT(br) * cim + FRACTAL_SPLAT(bi) * cre;
      VM ye = cex + e->b.e;
      normalize(yr, yi, ye, odd);
      // add(x, y): x = 0 gives y, y = 0 gives x, else the larger exponent's
      // mantissas plus the other's times 2^(difference) (0 below -1022).
      const VM x_zero = (xr == 0.0) & (xi == 0.0), y_zero = (yr == 0.0) & (yi == 0.0);
      const VM ge = xe >= ye;
      const VD br_ = ge ? xr : yr, bi_ = ge ? xi : yi, sr = ge ? yr : xr, si = ge ? yi : xi;
      const VM be = ge ? xe : ye, se = ge ? ye : xe;
      const VM d = se - be;
      const VM low = d < -1022;
      const VM dcl = low ? VM{0, 0, 0, 0} : d;
      const VD f = low ? zero : FRACTAL_POW2(dcl);
      VD ur = br_ + sr * f, ui = bi_ + si * f;
      VM ue = be;
      normalize(ur, ui, ue, odd);
      const VD nr = x_zero ? yr : y_zero ? xr : ur;
      const VD ni = x_zero ? yi : y_zero ? xi : ui;
      const VM ne = x_zero ? ye : y_zero ? xe : ue;
      if (!drop(odd)) break;
      re = live ? nr : re;
      im = live ? ni : im;
      ex = live ? ne : ex;
      const int steps = 1 << level;
      n += steps;
      k += steps;
      added += static_cast<std::uint32_t>(steps);
    }
    // iterate_narrow's exit: dz in double's range.
    const VM wide = live & (ex >= kDoubleFrom) & ~((re == 0.0) & (im == 0.0));
    if (!FRACTAL_ANY(wide)) continue;
    const bool all_wide = FRACTAL_ALL_LIVE(wide, live);
    for (int i = 0; i < kLanes; ++i) {
      if (!wide[i]) continue;
      const CExp d{re[i], im[i], static_cast<int>(ex[i])};
      g[i].dr = to_double_re(d);
      g[i].di = to_double_im(d);
      leave_group(g[i], n, k, added, rebases);
      g[i].narrow = false;
      in[i] = all_wide;  // all at once: on to phase 2 together
      live[i] = 0;
    }
    if (!FRACTAL_ANY(live)) break;
  }
#undef FRACTAL_POW2
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
  // Stage 1: every sample started and run in groups of neighbours (phase 1,
  // then phase 2) as long as the group holds; the states left in `ready`, in order.
  thread_local std::vector<Sample> ready;
  ready.clear();
  {
    Sample g[kLanes];
    bool in[kLanes];
    std::size_t at = first;
    while (at < last) {
      int filled = 0;
      while (filled < kLanes && at < last) {
        const std::uint32_t idx = sample_index(p, at++);
        if (start(p, idx, g[filled])) {
          sink.done(idx, g[filled].out);
        } else {
          ++filled;
        }
      }
      // Phase 1 together where it starts together; what leaves it finishes phase 1 alone.
      // (Not Julia: there dc = 0, and iterate_narrow restarted from a dz that
      // became exactly 0 would take it for phase 2; a Mandelbrot sample in
      // phase 1 has dc below double's range, so a restart is exact.)
      for (int i = 0; i < kLanes; ++i)
        in[i] = !p.julia && i < filled && g[i].narrow && g[i].n == g[0].n && g[i].k == g[0].k;
      group_narrow(p, g, in);
      for (int i = 0; i < filled; ++i) {
        if (finish_narrow(p, g[i])) {
          sink.done(g[i].idx, g[i].out);
          g[i].idx = UINT32_MAX;  // done
        }
      }
      int lead = -1;
      for (int i = 0; i < filled && lead < 0; ++i)
        if (g[i].idx != UINT32_MAX) lead = i;
      for (int i = 0; i < kLanes; ++i) {
        const CExp& dc = g[i].dc;
        in[i] = i < filled && lead >= 0 && g[i].idx != UINT32_MAX && g[i].n == g[lead].n && g[i].k == g[lead].k &&
                (dc.e > -1010 || (dc.re == 0 && dc.im == 0));
      }
      group_steps(p, g, in);
      for (int i = 0; i < filled; ++i)
        if (g[i].idx != UINT32_MAX) ready.push_back(g[i]);
    }
  }
  // Stage 2: the lanes.
  std::size_t next = 0;
  auto fill = [&](int i) {
    while (next < ready.size()) {
      s[i] = ready[next++];
      if (lane_ready(p, s[i]) || !advance(p, s[i])) return true;
      sink.done(s[i].idx, s[i].out);
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


#undef FRACTAL_ALL_LIVE
#undef FRACTAL_ANY
#undef FRACTAL_SPLAT
#undef FRACTAL_ABS

}  // namespace fractal::deep
