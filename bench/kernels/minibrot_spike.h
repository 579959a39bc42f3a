// A deep-zoom location next to a minibrot, for the deep benchmark and tests:
// the nucleus of the period-p minibrot on the real axis nearest the tip
// c = -2 of the Mandelbrot set (the "mini-MS near the tip of the main
// antenna" of Fractint-era deep zooms). It is a root of z_p(c) = 0 (z_0 = 0,
// z_{n+1} = z_n^2 + c), found by Newton's method in MPFR from the asymptotic
// c + 2 ~ 1.5 pi^2 4^-p, so it needs no external coordinates. Its minibrot's
// size is about 59 * 16^-p. Pixels next to it escape after many periods: long
// orbits, unlike c = i.
#pragma once

#include <mpfr.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace fractal::bench {

// Size estimate of the minibrot whose nucleus is c (period p), in log2:
// 1 / |b l^2| with l = prod 2 z_n and b = sum 1/l_n (n = 1 .. p-1).
inline double minibrot_size_log2(const mpfr_t c, int p, mpfr_prec_t bits) {
  mpfr_t z, l, b, t;
  mpfr_inits2(bits, z, l, b, t, static_cast<mpfr_ptr>(nullptr));
  mpfr_set_zero(z, 1);
  mpfr_set_ui(l, 1, MPFR_RNDN);
  mpfr_set_ui(b, 1, MPFR_RNDN);
  for (int n = 1; n < p; ++n) {
    mpfr_sqr(z, z, MPFR_RNDN);
    mpfr_add(z, z, c, MPFR_RNDN);
    mpfr_mul(l, l, z, MPFR_RNDN);
    mpfr_mul_2ui(l, l, 1, MPFR_RNDN);
    mpfr_ui_div(t, 1, l, MPFR_RNDN);
    mpfr_add(b, b, t, MPFR_RNDN);
  }
  mpfr_sqr(t, l, MPFR_RNDN);
  mpfr_mul(t, t, b, MPFR_RNDN);
  mpfr_abs(t, t, MPFR_RNDN);
  mpfr_log2(t, t, MPFR_RNDN);
  const double out = -mpfr_get_d(t, MPFR_RNDN);
  mpfr_clears(z, l, b, t, static_cast<mpfr_ptr>(nullptr));
  return out;
}

// The nucleus of the period-p minibrot on the real axis nearest c = -2, as a
// decimal string with `digits` significant digits: Newton on z_p(c) = 0 from
// c = -2 + eps_16 4^(16-p), eps_16 itself from Newton at period 16.
inline std::string spike_nucleus(int p, int digits, mpfr_prec_t bits) {
  mpfr_t c, z, dz, t;
  mpfr_inits2(bits, c, z, dz, t, static_cast<mpfr_ptr>(nullptr));
  auto newton = [&](int period, int rounds) {
    for (int r = 0; r < rounds; ++r) {
      mpfr_set_zero(z, 1);
      mpfr_set_zero(dz, 1);
      for (int n = 0; n < period; ++n) {
        mpfr_mul(dz, dz, z, MPFR_RNDN);  // dz = 2 z dz + 1
        mpfr_mul_2ui(dz, dz, 1, MPFR_RNDN);
        mpfr_add_ui(dz, dz, 1, MPFR_RNDN);
        mpfr_sqr(z, z, MPFR_RNDN);  // z = z^2 + c
        mpfr_add(z, z, c, MPFR_RNDN);
      }
      mpfr_div(t, z, dz, MPFR_RNDN);
      mpfr_sub(c, c, t, MPFR_RNDN);
      if (mpfr_zero_p(t) || mpfr_get_exp(t) < mpfr_get_exp(c) - static_cast<mpfr_exp_t>(bits) + 8) break;
    }
  };
  // c + 2 ~ 1.5 pi^2 4^-p for large p.
  mpfr_set_d(c, std::ldexp(1.5 * M_PI * M_PI, -32), MPFR_RNDN);
  mpfr_sub_ui(c, c, 2, MPFR_RNDN);
  newton(16, 60);
  mpfr_add_ui(c, c, 2, MPFR_RNDN);  // eps_16
  mpfr_div_2si(c, c, 2 * (p - 16), MPFR_RNDN);
  mpfr_sub_ui(c, c, 2, MPFR_RNDN);
  newton(p, 200);
  std::vector<char> buf(static_cast<std::size_t>(digits) + 64);
  mpfr_snprintf(buf.data(), buf.size(), "%.*Re", digits, c);
  mpfr_clears(c, z, dz, t, static_cast<mpfr_ptr>(nullptr));
  return buf.data();
}

// The spike location for a view of width 10^scale_log10: the smallest period
// whose minibrot is below 1/16 of the view.
struct SpikeLocation {
  int period = 0;
  std::string re;  // the nucleus, decimal; its imaginary part is 0
};
inline SpikeLocation spike_location(double scale_log10, int width) {
  const double view_log2 = scale_log10 * std::log2(10.0);
  const int digits = static_cast<int>(-scale_log10 + std::log10(static_cast<double>(width))) + 20;
  const auto bits = static_cast<mpfr_prec_t>(digits * 3.33) + 64;
  // size ~ 59 * 16^-p: start a little below the answer, then step.
  int p = std::max(16, static_cast<int>(std::floor((-view_log2 + 4 + std::log2(59.0)) / 4)) - 1);
  for (;; ++p) {
    const std::string re = spike_nucleus(p, digits, bits);
    mpfr_t c;
    mpfr_init2(c, bits);
    mpfr_set_str(c, re.c_str(), 10, MPFR_RNDN);
    const double size_log2 = minibrot_size_log2(c, p, bits);
    mpfr_clear(c);
    if (size_log2 < view_log2 - 4) return SpikeLocation{p, re};
  }
}

}  // namespace fractal::bench
