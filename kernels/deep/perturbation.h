// Deep zoom: per-pixel perturbation against a reference orbit, with rebasing.
//
// A pixel's orbit z_k is tracked as z_k = Z_n + dz_n, where Z is the reference
// orbit (computed once per view in arbitrary precision, stored in double: its
// values are O(1)) and dz the pixel's small difference from it:
//     dz_{n+1} = (2 Z_n + dz_n) dz_n + dc        (Julia: dc = 0)
// Rebasing (Zhuoran, 2021): when |z| < |dz| the pixel's orbit passed closer to 0
// than to the reference, so it is restarted against the reference's beginning,
// dz := z - Z_0, n := 0; the global iteration count k goes on. The same happens
// when the reference ends (it escaped before max_iter) while the pixel is still
// bounded; there dz is no longer small against the pixel's offset, so the pixel
// is flagged `exhausted` and the renderer re-renders it against a longer
// reference (one of the exhausted pixels).
//
// Number types: while |dz| is below double's range (views deeper than ~1e-290)
// dz and dc are kept as a mantissa pair with a shared binary exponent (CExp);
// once |dz| is in double's range the orbit runs in plain double (dc, ~2^-900
// smaller than dz then, no longer changes a rounded double), and goes back to
// CExp if a step takes dz below kNarrowBelow: next to a minibrot's nucleus the
// reference passes through 0 once a period, where dz' = dz^2 + dc.
//
// One header for host and device (FRACTAL_HD): the CPU renderer runs it per
// sample on a thread pool, the CUDA backend per lane in its deep kernel
// (kernels/cuda/deep_kernel.cu, compiled without FMA contraction so that both
// round every operation alike and give the same counts bit for bit). Device
// code needs no std:: algorithms and no GCC builtins here.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/host_device.h"

namespace fractal::deep {

// (re + i im) * 2^e with max(|re|, |im|) in [0.5, 1), or re = im = 0 (e = 0).
struct CExp {
  double re = 0, im = 0;
  int e = 0;
};

// 2^e as a factor: 0 below double's normal range, +inf above it. Built from
// the exponent bits (ldexp/frexp calls dominated the profile).
FRACTAL_HD inline double bits_to_double(std::uint64_t bits) {
#ifdef __CUDA_ARCH__
  return __longlong_as_double(static_cast<long long>(bits));
#else
  double out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
#endif
}
FRACTAL_HD inline std::uint64_t double_to_bits(double x) {
#ifdef __CUDA_ARCH__
  return static_cast<std::uint64_t>(__double_as_longlong(x));
#else
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
#endif
}
// Index of the lowest set bit of v != 0.
FRACTAL_HD inline int lowest_bit(unsigned v) {
#ifdef __CUDA_ARCH__
  return __ffs(static_cast<int>(v)) - 1;
#else
  return __builtin_ctz(v);
#endif
}

FRACTAL_HD inline double pow2(int e) {
  if (e < -1022) return 0.0;
  if (e > 1023) return bits_to_double(std::uint64_t{0x7ff} << 52);  // +inf
  return bits_to_double(static_cast<std::uint64_t>(e + 1023) << 52);
}

// e such that |x| = m 2^e with m in [0.5, 1), for x != 0.
FRACTAL_HD inline int exponent_of(double x) {
  const std::uint64_t bits = double_to_bits(x);
  const int biased = static_cast<int>((bits >> 52) & 0x7ff);
  if (biased == 0) {  // subnormal: rare, take the slow path
    int e = 0;
    frexp(x, &e);
    return e;
  }
  return biased - 1022;
}

FRACTAL_HD inline CExp normalized(double re, double im, int e) {
  const double ar = fabs(re), ai = fabs(im);
  const double m = ar > ai ? ar : ai;  // not fmax: on the host that is a libm call (the operands are never NaN)
  if (m == 0) return CExp{0, 0, 0};
  const int shift = exponent_of(m);
  if (shift > -1000 && shift < 1000) {
    const double f = pow2(-shift);
    return CExp{re * f, im * f, e + shift};
  }
  return CExp{ldexp(re, -shift), ldexp(im, -shift), e + shift};
}

FRACTAL_HD inline CExp add(const CExp& a, const CExp& b) {
  if (a.re == 0 && a.im == 0) return b;
  if (b.re == 0 && b.im == 0) return a;
  if (a.e >= b.e) {
    const double f = pow2(b.e - a.e);
    return normalized(a.re + b.re * f, a.im + b.im * f, a.e);
  }
  const double f = pow2(a.e - b.e);
  return normalized(a.re * f + b.re, a.im * f + b.im, b.e);
}

FRACTAL_HD inline CExp mul(const CExp& a, const CExp& b);

// (2 Z + dz) dz + dc with Z a plain double complex.
FRACTAL_HD inline CExp step(double zr, double zi, const CExp& dz, const CExp& dc) {
  if (fabs(zr) < 0x1p-900 && fabs(zi) < 0x1p-900) {
    // The reference at (or, in double, rounded to) 0: a periodic reference at
    // its period, the nucleus of a minibrot. There dz^2 is most of the step and
    // can be far below double's range, so 2 Z + dz stays in CExp (the
    // expression below would drop dz, leaving dz_{n+1} = dc).
    return add(mul(add(normalized(2 * zr, 2 * zi, 0), dz), dz), dc);
  }
  // 2 Z + dz: dz is far below Z's ulp unless its exponent is near 0.
  const double f = pow2(dz.e);
  const double tr = 2 * zr + dz.re * f, ti = 2 * zi + dz.im * f;
  const CExp prod = normalized(tr * dz.re - ti * dz.im, tr * dz.im + ti * dz.re, dz.e);
  return add(prod, dc);
}

FRACTAL_HD inline double to_double_re(const CExp& a) { return a.e < -1022 ? 0.0 : a.re * pow2(a.e); }
FRACTAL_HD inline double to_double_im(const CExp& a) { return a.e < -1022 ? 0.0 : a.im * pow2(a.e); }

// A non-negative real m * 2^e, m in [0.5, 1) or 0: BLA validity radii and
// magnitudes, which leave double's range at depth.
struct FExp {
  double m = 0;
  int e = 0;
};

FRACTAL_HD inline FExp fexp(double x, int e = 0) {
  if (x == 0) return FExp{0, 0};
  const int shift = exponent_of(x);
  if (shift > -1000 && shift < 1000) return FExp{fabs(x) * pow2(-shift), e + shift};
  return FExp{ldexp(fabs(x), -shift), e + shift};
}
FRACTAL_HD inline FExp mul(const FExp& a, const FExp& b) { return fexp(a.m * b.m, a.e + b.e); }
FRACTAL_HD inline FExp div(const FExp& a, const FExp& b) { return b.m == 0 ? FExp{0, 0} : fexp(a.m / b.m, a.e - b.e); }
FRACTAL_HD inline bool less(const FExp& a, const FExp& b) {
  if (b.m == 0) return false;
  if (a.m == 0) return true;
  return a.e != b.e ? a.e < b.e : a.m < b.m;
}
// max(0, a - b)
FRACTAL_HD inline FExp sub_floor0(const FExp& a, const FExp& b) {
  if (!less(b, a)) return FExp{0, 0};
  if (b.m == 0) return a;
  return fexp(a.m - b.m * pow2(b.e - a.e), a.e);
}
FRACTAL_HD inline FExp min(const FExp& a, const FExp& b) { return less(a, b) ? a : b; }
FRACTAL_HD inline FExp magnitude(const CExp& a) { return fexp(sqrt(a.re * a.re + a.im * a.im), a.e); }
FRACTAL_HD inline CExp mul(const CExp& a, const CExp& b) {
  return normalized(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re, a.e + b.e);
}

// BLA steps may drop dz^2 while it stays below 2^kBlaEpsilonLog2 of the linear term.
// 2^-53 (double's own rounding) is not enough next to a minibrot: pixels that
// pass close to 0 once a period amplify the dropped term, and 4-6 % of the
// counts of the spike views (tests/kernels/test_deep.cpp) came out wrong;
// 2^-64 matches the MPFR reference there (and costs 1-3 points of skip ratio at c = i).
inline constexpr int kBlaEpsilonLog2 = -64;
// Every valid radius is eps |2 Z| <= 2^-62 (|Z| <= 2 where an entry exists),
// so a probe can only succeed where |dr| + |di| < sqrt(2) 2^-62 < 2^-61: the
// cheap test before a probe in phase 2 (iterate_wide_once).
inline constexpr double kBlaProbeBelow = 0x1p-61;
static_assert(kBlaEpsilonLog2 == -64, "kBlaProbeBelow is 2^(kBlaEpsilonLog2 + 3)");

// Bilinear approximation (BLA): while |dz| is tiny against |Z_n|, the step is
// linear, dz_{n+1} = A dz_n + B dc with A = 2 Z_n, B = 1 (Julia: 0), and l such
// steps compose into one: A = A_y A_x, B = A_y B_x + B_y. Entry (level l, index
// m) takes reference index n = origin + m 2^l to n + 2^l and is valid while
// |dz| < r; r of one step is eps |A| (the dropped dz^2 stays below eps |A dz|),
// r of a merge is min(r_x, max(0, (r_y - |B_x| |dc|max) / |A_x|)).
struct BlaEntry {
  CExp a, b;
  FExp r;
};

struct BlaView {
  const BlaEntry* entries = nullptr;  // level after level
  const int* level_start = nullptr;   // index of each level's first entry
  const int* level_count = nullptr;
  int levels = 0;
  int origin = 0;  // reference index of every level's first entry (Mandelbrot 1, Julia 0)
};

// The reference orbit as the kernel sees it: Z_0 .. Z_{length-1}. When the
// reference escaped before max_iter, Z_{length-1} is its first escaped value.
struct OrbitView {
  const double* re = nullptr;
  const double* im = nullptr;
  int length = 0;
  bool escaped = false;  // the reference itself escaped at index length-1
};

struct PixelResult {
  std::uint32_t count = 0;  // min(max_iter, first k with |z_k|^2 > 4)
  float mag2 = 0;           // |z_count|^2 (smooth colouring)
  bool exhausted = false;   // ran past the end of an escaped reference: re-render with another
  std::uint32_t rebases = 0;
  std::uint32_t skipped = 0;  // iterations done by BLA steps
};

// The longest valid BLA step at reference index n for |dz| = mag, or null.
FRACTAL_HD inline const BlaEntry* find_bla(const BlaView& bla, int n, int k, int max_iter, const FExp& mag, int& steps) {
  if (bla.levels == 0 || n < bla.origin) return nullptr;
  const int rel = n - bla.origin;
  // Level 0 first: an entry of any level starting at n exists only where level
  // 0's does, needs k + 1 <= max_iter too, and its radius is at most level 0's
  // (a merge takes the min with its first half's). A failed probe ends here.
  if (rel >= bla.level_count[0] || k + 1 > max_iter || !less(mag, bla.entries[bla.level_start[0] + rel].r)) return nullptr;
  int top = bla.levels - 1;  // the highest level whose entries start at n
  if (rel != 0) {
    const int low = lowest_bit(static_cast<unsigned>(rel));
    if (low < top) top = low;
  }
  // Valid levels at n form a prefix 0 .. L (radii only shrink with the level,
  // steps only grow): climb from level 0 (valid, checked above) to the first
  // invalid one. Fewer probes of the (large, cache-cold) table than scanning
  // down from the top when L is small against top.
  int l = 0;
  while (l < top) {
    const int m = rel >> (l + 1);
    if (m >= bla.level_count[l + 1] || k + (2 << l) > max_iter) break;
    if (!less(mag, bla.entries[bla.level_start[l + 1] + m].r)) break;
    ++l;
  }
  steps = 1 << l;
  return &bla.entries[bla.level_start[l] + (rel >> l)];
}

// The sample ends at iteration k when |z_k|^2 > 4 (count k) or k = max_iter;
// then out holds its count and |z|^2.
FRACTAL_HD inline bool settled(PixelResult& out, double r2, int k, int max_iter) {
  if (r2 <= 4 && k < max_iter) return false;
  out.count = static_cast<std::uint32_t>(r2 > 4 ? k : max_iter);
  out.mag2 = static_cast<float>(r2);
  return true;
}

// Below this binary exponent dz stays in CExp; at or above it, double.
inline constexpr int kDoubleFrom = -900;

// Phase 1 of a sample (dz below double's range, in CExp) from reference index
// n and iteration k, until it settles (returns true: `out` holds the result)
// or dz enters double's range (returns false with dr, di, n, k set for phase
// 2). dz0: dz at (n, k); at the start, the pixel's z_0 minus Z_0 (Mandelbrot:
// 0). dc: the pixel's c minus the reference's c (Julia: 0).
FRACTAL_HD inline bool iterate_narrow(const OrbitView& ref, const BlaView& bla, CExp dz0, const CExp& dc, int max_iter,
                                      PixelResult& out, double& dr, double& di, int& n, int& k) {
  CExp dz = dz0;
  // (A zero CExp has exponent 0: a Mandelbrot pixel starts at dz = 0, and its size comes from dc.)
  const bool dz_zero = dz.re == 0 && dz.im == 0;
  bool wide = dz_zero ? (dc.re == 0 && dc.im == 0) || dc.e >= kDoubleFrom : dz.e >= kDoubleFrom;
  while (!wide) {
    const double zr = ref.re[n] + to_double_re(dz), zi = ref.im[n] + to_double_im(dz);
    const double r2 = zr * zr + zi * zi;
    if (settled(out, r2, k, max_iter)) return true;
    // |z| < |dz| cannot happen while |dz| < 2^-900 unless the reference is at 0
    // itself: Z_0 of a Mandelbrot reference, or a periodic reference (a
    // minibrot's nucleus) back at 0 after each period. There the reference is
    // restarted from 0 (exact: z = Z_n + dz either way), so that BLA steps
    // stay aligned with the period instead of straddling it.
    const bool at_end = n + 1 >= ref.length;
    if (at_end || (n > 0 && ref.re[n] == 0 && ref.im[n] == 0)) {  // at the end (it escaped) dz is tiny, rebase keeps it exact
      dz = add(CExp{ref.re[n], ref.im[n], 0}, dz);
      dz = add(dz, CExp{-ref.re[0], -ref.im[0], 0});
      dz = normalized(dz.re, dz.im, dz.e);
      n = 0;
      ++out.rebases;
      if (at_end && ref.escaped) out.exhausted = true;
    }
    int steps = 0;
    if (const BlaEntry* e = find_bla(bla, n, k, max_iter, magnitude(dz), steps)) {
      dz = add(mul(e->a, dz), mul(e->b, dc));
      n += steps;
      k += steps;
      out.skipped += static_cast<std::uint32_t>(steps);
    } else {
      dz = step(ref.re[n], ref.im[n], dz, dc);
      ++n;
      ++k;
    }
    wide = dz.e >= kDoubleFrom && !(dz.re == 0 && dz.im == 0);
  }
  dr = to_double_re(dz);
  di = to_double_im(dz);
  return false;
}

// Below this |dr| + |di| phase 2 hands dz back to phase 1: next to a
// minibrot's nucleus the reference passes (numerically) through 0 once a
// period, and there dz_{n+1} = dz^2 + dc, both far below double's range at
// depth: plain double would round the pixel onto the reference for good.
// Above it, terms that underflow to subnormals or 0 (dc at 1e-1000, dz^2)
// are below 2^-1074, under 2^-64 of dz, like BLA's own truncation.
inline constexpr double kNarrowBelow = 0x1p-1010;

enum class Wide { go_on, settled, narrow };

// One iteration of phase 2 (dz in plain double): a plain perturbation step or
// a BLA step (go_on), the end of the sample (settled: `out` holds the
// result), or a step whose dz fell below double's comfortable range (narrow:
// `back` holds that dz in CExp, n and k are advanced; continue in phase 1).
// dcr, dci: dc as doubles.
FRACTAL_HD inline Wide iterate_wide_once(const OrbitView& ref, const BlaView& bla, const CExp& dc, double dcr, double dci,
                                         int max_iter, PixelResult& out, double& dr, double& di, int& n, int& k,
                                         CExp& back) {
  const double Zr = ref.re[n], Zi = ref.im[n];
  const double zr = Zr + dr, zi = Zi + di;
  const double r2 = zr * zr + zi * zi;
  if (settled(out, r2, k, max_iter)) return Wide::settled;
  const bool at_end = n + 1 >= ref.length;
  if (at_end || r2 < dr * dr + di * di || (n > 0 && zr == dr && zi == di)) {
    // Rebase: the orbit is closer to 0 than to the reference, or the reference
    // ended, or it is negligible against dz (z rounds to dz: a periodic
    // reference near 0 after a period, as in iterate_narrow).
    if (at_end && ref.escaped) out.exhausted = true;
    dr = zr - ref.re[0];
    di = zi - ref.im[0];
    n = 0;
    ++out.rebases;
  }
  // A BLA step only where dz is tiny against Z (kBlaProbeBelow): a cheap
  // test first. No squares here: at 1e-200 they underflow to 0.
  if (bla.levels > 0 && fabs(dr) + fabs(di) < kBlaProbeBelow) {
    int steps = 0;
    if (const BlaEntry* e = find_bla(bla, n, k, max_iter, magnitude(normalized(dr, di, 0)), steps)) {
      bool low = false;  // the result is below kNarrowBelow: back to phase 1 with it in CExp
      if (e->a.e > -960 && e->a.e < 960 && e->b.e > -960 && e->b.e < 960 && (dc.e > -1010 || (dc.re == 0 && dc.im == 0))) {
        // A, B and dc in double's range (views down to ~1e-300): A dz + B dc
        // in plain double, the same roundings as the CExp form up to
        // subnormal intermediates, below 2^-64 of a result above kNarrowBelow.
        const double fa = pow2(e->a.e), fb = pow2(e->b.e);
        const double ar = e->a.re * fa, ai = e->a.im * fa, br = e->b.re * fb, bi = e->b.im * fb;
        const double nr = (ar * dr - ai * di) + (br * dcr - bi * dci);
        const double ni = (ar * di + ai * dr) + (br * dci + bi * dcr);
        low = fabs(nr) + fabs(ni) < kNarrowBelow;
        if (low) {
          back = add(mul(e->a, normalized(dr, di, 0)), mul(e->b, dc));
        } else {
          dr = nr;
          di = ni;
        }
      } else {
        back = add(mul(e->a, normalized(dr, di, 0)), mul(e->b, dc));
        dr = to_double_re(back);
        di = to_double_im(back);
        low = fabs(dr) + fabs(di) < kNarrowBelow;
      }
      n += steps;
      k += steps;
      out.skipped += static_cast<std::uint32_t>(steps);
      return low ? Wide::narrow : Wide::go_on;
    }
  }
  const double Zr0 = ref.re[n], Zi0 = ref.im[n];
  const double tr = 2 * Zr0 + dr, ti = 2 * Zi0 + di;
  const double nr = tr * dr - ti * di + dcr;
  const double ni = tr * di + ti * dr + dci;
  if (fabs(nr) + fabs(ni) < kNarrowBelow) {
    back = step(Zr0, Zi0, normalized(dr, di, 0), dc);
    ++n;
    ++k;
    return Wide::narrow;
  }
  dr = nr;
  di = ni;
  ++n;
  ++k;
  return Wide::go_on;
}

// Iterates one pixel. dz0: the pixel's z_0 minus Z_0 (Mandelbrot: 0); dc: the
// pixel's c minus the reference's c (Julia: 0).
FRACTAL_HD inline PixelResult iterate(const OrbitView& ref, const BlaView& bla, CExp dz0, CExp dc, int max_iter) {
  PixelResult out;
  double dr = 0, di = 0;
  int n = 0, k = 0;
  const double dcr = to_double_re(dc), dci = to_double_im(dc);
  CExp dz = dz0;
  for (;;) {
    if (iterate_narrow(ref, bla, dz, dc, max_iter, out, dr, di, n, k)) return out;
    Wide w = Wide::go_on;
    while ((w = iterate_wide_once(ref, bla, dc, dcr, dci, max_iter, out, dr, di, n, k, dz)) == Wide::go_on) {
    }
    if (w == Wide::settled) return out;
  }
}

}  // namespace fractal::deep
