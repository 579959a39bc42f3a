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
// once |dz| is in double's range the rest of the orbit runs in plain double (dc,
// ~2^-900 smaller than dz then, no longer changes a rounded double).
//
// One header for host and device: the CPU renderer runs it per pixel on a
// thread pool; a CUDA build can include it in a kernel unchanged.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define FRACTAL_HD __host__ __device__
#else
#define FRACTAL_HD
#endif

namespace fractal::deep {

// (re + i im) * 2^e with max(|re|, |im|) in [0.5, 1), or re = im = 0 (e = 0).
struct CExp {
  double re = 0, im = 0;
  int e = 0;
};

FRACTAL_HD inline CExp normalized(double re, double im, int e) {
  const double m = fmax(fabs(re), fabs(im));
  if (m == 0) return CExp{0, 0, 0};
  int shift = 0;
  frexp(m, &shift);
  return CExp{ldexp(re, -shift), ldexp(im, -shift), e + shift};
}

// 2^e as a factor, 0 when it underflows (e far below double's range).
FRACTAL_HD inline double pow2(int e) { return e < -1070 ? 0.0 : ldexp(1.0, e); }

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

// (2 Z + dz) dz + dc with Z a plain double complex.
FRACTAL_HD inline CExp step(double zr, double zi, const CExp& dz, const CExp& dc) {
  // 2 Z + dz: dz is far below Z's ulp unless its exponent is near 0.
  const double f = pow2(dz.e);
  const double tr = 2 * zr + dz.re * f, ti = 2 * zi + dz.im * f;
  const CExp prod = normalized(tr * dz.re - ti * dz.im, tr * dz.im + ti * dz.re, dz.e);
  return add(prod, dc);
}

FRACTAL_HD inline double to_double_re(const CExp& a) { return a.e < -1070 ? 0.0 : ldexp(a.re, a.e); }
FRACTAL_HD inline double to_double_im(const CExp& a) { return a.e < -1070 ? 0.0 : ldexp(a.im, a.e); }

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
};

// Below this binary exponent dz stays in CExp; at or above it, double.
inline constexpr int kDoubleFrom = -900;

// Iterates one pixel. dz0: the pixel's z_0 minus Z_0 (Mandelbrot: 0); dc: the
// pixel's c minus the reference's c (Julia: 0).
FRACTAL_HD inline PixelResult iterate(const OrbitView& ref, CExp dz0, CExp dc, int max_iter) {
  PixelResult out;
  const double dcr = to_double_re(dc), dci = to_double_im(dc);
  int n = 0;
  int k = 0;
  // Phase 1: dz below double's range.
  CExp dz = dz0;
  // (A zero CExp has exponent 0: a Mandelbrot pixel starts at dz = 0, and its size comes from dc.)
  const bool dz_zero = dz.re == 0 && dz.im == 0;
  bool wide = dz_zero ? (dc.re == 0 && dc.im == 0) || dc.e >= kDoubleFrom : dz.e >= kDoubleFrom;
  while (!wide) {
    const double zr = ref.re[n] + to_double_re(dz), zi = ref.im[n] + to_double_im(dz);
    const double r2 = zr * zr + zi * zi;
    if (r2 > 4) {
      out.count = static_cast<std::uint32_t>(k);
      out.mag2 = static_cast<float>(r2);
      return out;
    }
    if (k >= max_iter) {
      out.count = static_cast<std::uint32_t>(max_iter);
      out.mag2 = static_cast<float>(r2);
      return out;
    }
    // |z| < |dz| cannot happen while |dz| < 2^-900 unless the reference is at 0
    // itself (Z_0 of a Mandelbrot reference): nothing to rebase.
    if (n + 1 >= ref.length) {  // reference ended (it escaped): dz is tiny, rebase keeps it exact
      dz = add(CExp{ref.re[n], ref.im[n], 0}, dz);
      dz = add(dz, CExp{-ref.re[0], -ref.im[0], 0});
      dz = normalized(dz.re, dz.im, dz.e);
      n = 0;
      ++out.rebases;
      if (ref.escaped) out.exhausted = true;
    }
    dz = step(ref.re[n], ref.im[n], dz, dc);
    ++n;
    ++k;
    wide = dz.e >= kDoubleFrom && !(dz.re == 0 && dz.im == 0);
  }
  // Phase 2: plain double.
  double dr = to_double_re(dz), di = to_double_im(dz);
  for (;;) {
    const double Zr = ref.re[n], Zi = ref.im[n];
    const double zr = Zr + dr, zi = Zi + di;
    const double r2 = zr * zr + zi * zi;
    if (r2 > 4) {
      out.count = static_cast<std::uint32_t>(k);
      out.mag2 = static_cast<float>(r2);
      return out;
    }
    if (k >= max_iter) {
      out.count = static_cast<std::uint32_t>(max_iter);
      out.mag2 = static_cast<float>(r2);
      return out;
    }
    const bool at_end = n + 1 >= ref.length;
    if (at_end || r2 < dr * dr + di * di) {
      // Rebase: the orbit is closer to 0 than to the reference (or the reference ended).
      if (at_end && ref.escaped) out.exhausted = true;
      dr = zr - ref.re[0];
      di = zi - ref.im[0];
      n = 0;
      ++out.rebases;
    }
    const double Zr0 = ref.re[n], Zi0 = ref.im[n];
    const double tr = 2 * Zr0 + dr, ti = 2 * Zi0 + di;
    const double nr = tr * dr - ti * di + dcr;
    const double ni = tr * di + ti * dr + dci;
    dr = nr;
    di = ni;
    ++n;
    ++k;
  }
}

}  // namespace fractal::deep
