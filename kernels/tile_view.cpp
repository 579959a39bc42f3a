#include "kernels/tile_view.h"

#include <gmp.h>

#include <cmath>
#include <string>

namespace fractal {
namespace {

struct Mpz {
  Mpz() { mpz_init(v); }
  ~Mpz() { mpz_clear(v); }
  Mpz(const Mpz&) = delete;
  Mpz& operator=(const Mpz&) = delete;
  mpz_t v;
};

// n / 2^k as JSON: a number when double holds it exactly, else a decimal
// string in exponent form with at most kMaxDecimalDigits significant digits.
nlohmann::json dyadic(const mpz_t n, std::uint64_t k) {
  if (mpz_sgn(n) == 0) return 0.0;
  const std::size_t bits = mpz_sizeinbase(n, 2);
  const std::uint64_t low_zeros = mpz_scan1(n, 0);
  const std::size_t odd_bits = bits - low_zeros;
  if (odd_bits <= 53 && k <= 1000 && bits <= 1000) {
    // Exact: the odd part fits the mantissa and the exponent is in range.
    return std::ldexp(mpz_get_d(n), -static_cast<int>(k));
  }
  Mpz m;
  mpz_ui_pow_ui(m.v, 5, k);
  mpz_mul(m.v, m.v, n);  // n / 2^k = n * 5^k / 10^k
  const bool negative = mpz_sgn(m.v) < 0;
  mpz_abs(m.v, m.v);
  std::string digits(mpz_sizeinbase(m.v, 10) + 2, '\0');
  mpz_get_str(digits.data(), 10, m.v);
  digits.resize(std::char_traits<char>::length(digits.c_str()));
  // value = 0.<digits> * 10^(len - k)  =  d.ddd * 10^(len - 1 - k)
  long long exp10 = static_cast<long long>(digits.size()) - 1 - static_cast<long long>(k);
  if (digits.size() > kMaxDecimalDigits) {
    const bool up = digits[kMaxDecimalDigits] >= '5';
    digits.resize(kMaxDecimalDigits);
    if (up) {
      std::size_t i = digits.size();
      while (i > 0 && digits[i - 1] == '9') digits[--i] = '0';
      if (i == 0) {
        digits.insert(digits.begin(), '1');
        digits.pop_back();
        ++exp10;
      } else {
        ++digits[i - 1];
      }
    }
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string text = negative ? "-" : "";
  text += digits[0];
  if (digits.size() > 1) text.append(".").append(digits, 1, std::string::npos);
  text += "e" + std::to_string(exp10);
  return text;
}

}  // namespace

TileViewJson tile_view_json(FractalKind fractal, std::int64_t z, std::string_view x_text, std::string_view y_text) {
  TileViewJson out;
  const double origin_re = fractal == FractalKind::julia ? 0.0 : -0.5;
  if (z > kDeepestTileLevel) {
    out.center = nlohmann::json::array({origin_re, 0.0});
    out.scale = "1e-" + std::to_string(-kMinScaleExp10 + 100);  // below the limit: zoom_too_deep
    return out;
  }
  Mpz x, y, limit;
  if (x_text.size() > kMaxTileIndexDigits || mpz_set_str(x.v, std::string(x_text).c_str(), 10) != 0) {
    out.error = TileIndexError::x;
    return out;
  }
  if (y_text.size() > kMaxTileIndexDigits || mpz_set_str(y.v, std::string(y_text).c_str(), 10) != 0) {
    out.error = TileIndexError::y;
    return out;
  }
  mpz_ui_pow_ui(limit.v, 2, static_cast<unsigned long>(z));
  if (mpz_sgn(x.v) < 0 || mpz_cmp(x.v, limit.v) >= 0) {
    out.error = TileIndexError::x;
    return out;
  }
  if (mpz_sgn(y.v) < 0 || mpz_cmp(y.v, limit.v) >= 0) {
    out.error = TileIndexError::y;
    return out;
  }
  // Everything over the common denominator 2^(z+1):
  //   origin.re - 2 = -5/2 (Mandelbrot) or -2 (Julia) = -(5 or 4) * 2^z / 2^(z+1)
  //   (x + 0.5) * 4 / 2^z = 4 (2x + 1) / 2^(z+1);  origin.im + 2 = 4 * 2^z / 2^(z+1)
  const auto k = static_cast<std::uint64_t>(z) + 1;
  Mpz re, im, t;
  mpz_mul_ui(re.v, limit.v, fractal == FractalKind::julia ? 4 : 5);
  mpz_neg(re.v, re.v);
  mpz_mul_ui(t.v, x.v, 2);
  mpz_add_ui(t.v, t.v, 1);
  mpz_mul_ui(t.v, t.v, 4);
  mpz_add(re.v, re.v, t.v);
  mpz_mul_ui(im.v, limit.v, 4);
  mpz_mul_ui(t.v, y.v, 2);
  mpz_add_ui(t.v, t.v, 1);
  mpz_mul_ui(t.v, t.v, 4);
  mpz_sub(im.v, im.v, t.v);
  out.center = nlohmann::json::array({dyadic(re.v, k), dyadic(im.v, k)});
  Mpz four;
  mpz_set_ui(four.v, 4);
  out.scale = dyadic(four.v, static_cast<std::uint64_t>(z));  // 4 / 2^z
  return out;
}

}  // namespace fractal
