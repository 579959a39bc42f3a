// Colouring model
// - Stops are evenly spaced and interpolated in sRGB (what gradient editors
//   show). The cyclic gradient is sampled into a LUT of ~4096 entries, a
//   multiple of the stop count so every stop is an exact entry.
// - smooth: nu = k + 1 - log2(log2(|z_k|^2) / 2), continuous across count bands
//   at the bailout |z|^2 = 4. Palette cycles = (x(nu) - 1) / kPeriod with
//   x = sqrt(nu) up to nu = kLogFrom and a C1 logarithmic continuation above:
//   sqrt keeps shallow views colourful (nu 1..50 spans about one cycle), the
//   log tail keeps deep views (nu ~ 1e3..1e5, where neighbouring pixels differ by
//   hundreds of iterations) at a few calm cycles instead of noise. nu = 1 (the
//   outermost escaping samples) sits on the first stop.
// - bands: stop (k mod stops), flat.
// - histogram: position = cdf(nu) from the first stop to the last (not cyclic),
//   the cdf linearly interpolated between integer counts, so it is as smooth as
//   `smooth`; without mag2 a sample sits in the middle of its count's bin.
// - Supersampling averages the s x s samples in linear light (inside samples add
//   black) and encodes the mean to sRGB: thin bright filaments keep their true
//   brightness instead of being darkened as sRGB averaging would.
//
// Speed: colour_rows runs on up to 67 M samples. One Highway kernel per pixel
// row (every SIMD target, dispatched at run time like the escape kernel) does
// it all in registers: counts -> LUT coordinates -> gathered, interpolated
// colours -> (average, sRGB) -> interleaved u8/u16 RGB. No allocation, no
// per-sample branch on the mode.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/color/coloring.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#ifndef FRACTAL_COLORING_SHARED_
#define FRACTAL_COLORING_SHARED_
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/color/coloring.h"
#include "kernels/color/palette.h"

namespace fractal::color_detail {

constexpr float kPeriod = 6.0f;              // x(nu) units per palette cycle
constexpr float kLogFrom = 100.0f;           // nu where sqrt hands over to log
constexpr float kSqrtLogFrom = 10.0f;        // sqrt(kLogFrom)
constexpr float kLog2LogFrom = 6.64385619f;  // log2(kLogFrom)
constexpr int kToSrgbSize = 16384;

// One pixel row for the SIMD kernel.
struct RowArgs {
  Coloring mode = Coloring::smooth;
  const std::uint32_t* counts = nullptr;  // ss grid rows of width * ss samples
  const float* mag2 = nullptr;            // same layout, or null
  std::size_t grid_w = 0;
  int width = 0;
  int ss = 1;
  std::int32_t max_iter = 1;
  float lut_size = 0;   // entries in one palette cycle
  float stops = 1;
  float per_stop = 1;   // LUT entries per stop
  const float* lut = nullptr;      // sRGB (ss == 1) or linear (ss > 1) entries of 4 floats
  const float* cdf = nullptr;      // histogram: max_iter + 1 entries
  const float* to_srgb = nullptr;  // ss > 1: kToSrgbSize + 2 entries
  void* out = nullptr;             // width RGB pixels
  PixelType out_type = PixelType::u8;
};

}  // namespace fractal::color_detail
#endif  // FRACTAL_COLORING_SHARED_

HWY_BEFORE_NAMESPACE();
namespace fractal::color_detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// log2 of normal positive floats to ~1e-7 absolute: x = 2^e * m with m in
// [sqrt(1/2), sqrt(2)), log2(m) = 2/ln2 * atanh((m-1)/(m+1)) by its series.
// Cheaper than hn::Log2, whose last-ulp accuracy colours do not need.
template <class D, class V>
HWY_INLINE V FastLog2(D d, V x) {
  const hn::RebindToSigned<D> di;
  const auto bits = hn::BitCast(di, x);
  const auto e = hn::ShiftRight<23>(hn::Sub(bits, hn::Set(di, 0x3f3504f3)));  // 0x3f3504f3: sqrt(1/2)
  const V m = hn::BitCast(d, hn::Sub(bits, hn::ShiftLeft<23>(e)));
  const V one = hn::Set(d, 1.0f);
  const V t = hn::Div(hn::Sub(m, one), hn::Add(m, one));
  const V t2 = hn::Mul(t, t);
  V p = hn::MulAdd(t2, hn::Set(d, 0.41219858f), hn::Set(d, 0.57707802f));
  p = hn::MulAdd(p, t2, hn::Set(d, 0.96179669f));
  p = hn::MulAdd(p, t2, hn::Set(d, 2.88539008f));
  return hn::MulAdd(p, t, hn::ConvertTo(d, e));
}

template <Coloring Mode, bool kMag, bool kAvg, class Out>
void ShadeRowT(const RowArgs& a) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<Out, decltype(d)> dout;
  using VF = hn::Vec<decltype(d)>;
  using VI = hn::Vec<decltype(di)>;
  const int lanes = static_cast<int>(hn::Lanes(d));
  const auto* counts = reinterpret_cast<const std::int32_t*>(a.counts);  // counts <= 1e6
  const int ss = kAvg ? a.ss : 1;

  const VF zero = hn::Zero(d), one = hn::Set(d, 1.0f), two = hn::Set(d, 2.0f), four = hn::Set(d, 4.0f);
  const VF big = hn::Set(d, 1e30f);
  const VF last = hn::Set(d, a.lut_size - 1e-3f);
  const VF black = hn::Set(d, a.lut_size + 1.0f);  // entries lut_size + 1, + 2 are black
  const VI max_k = hn::Set(di, a.max_iter - 1);

  // Continuous escape value; histogram without mag2 sits mid-bin.
  auto nu_of = [&](VF kf, [[maybe_unused]] VF m2) {
    if constexpr (!kMag) {
      return Mode == Coloring::histogram ? hn::Add(kf, hn::Set(d, 0.5f)) : kf;
    } else {
      const VF m = hn::IfThenElse(hn::Gt(m2, four), hn::Min(m2, big), four);  // NaN, rounding -> bailout
      const VF nu = hn::Sub(hn::Add(kf, two), FastLog2(d, FastLog2(d, m)));
      return hn::Max(nu, zero);  // Julia samples far outside: k = 0 and a huge |z|
    }
  };

  // LUT coordinate in [0, lut_size), or the black entry for inside samples.
  auto coord_of = [&](VI k, VF m2) {
    const auto inside = hn::Or(hn::Gt(k, max_k), hn::Lt(k, hn::Zero(di)));
    const VF kf = hn::ConvertTo(d, k);
    VF coord;
    if constexpr (Mode == Coloring::bands) {
      const VF stops = hn::Set(d, a.stops);
      // Exact for k <= 2^23: the true quotient is >= 0.5/stops away from an integer.
      const VF q = hn::Floor(hn::Div(hn::Add(kf, hn::Set(d, 0.5f)), stops));
      const VF r = hn::Min(hn::Max(hn::NegMulAdd(q, stops, kf), zero), hn::Sub(stops, one));
      coord = hn::Mul(r, hn::Set(d, a.per_stop));
    } else if constexpr (Mode == Coloring::smooth) {
      const VF nu = nu_of(kf, m2);
      VF x = hn::Sqrt(nu);
      const auto deep = hn::Gt(nu, hn::Set(d, kLogFrom));
      if (!hn::AllFalse(d, deep)) {  // most views have no lane this deep: skip the third log
        const VF lg = hn::Mul(hn::Set(d, kSqrtLogFrom),
                              hn::MulAdd(hn::Set(d, 0.5f * 0.69314718f),
                                         hn::Sub(FastLog2(d, hn::Max(nu, one)), hn::Set(d, kLog2LogFrom)), one));
        x = hn::IfThenElse(deep, lg, x);
      }
      const VF pos = hn::MulAdd(hn::Sub(x, one), hn::Set(d, 1.0f / kPeriod), one);  // > 0
      coord = hn::Min(hn::Mul(hn::Sub(pos, hn::Floor(pos)), hn::Set(d, a.lut_size)), last);
    } else {  // histogram
      const VF nu = hn::Min(nu_of(kf, m2), hn::Set(d, static_cast<float>(a.max_iter)));
      const VI i = hn::Max(hn::Min(hn::ConvertTo(di, nu), max_k), hn::Zero(di));
      const VF t = hn::Sub(nu, hn::ConvertTo(d, i));
      const VF c0 = hn::GatherIndex(d, a.cdf, i), c1 = hn::GatherIndex(d, a.cdf + 1, i);
      const VF span = hn::Set(d, (a.stops - 1.0f) * a.per_stop);  // first stop .. last stop
      coord = hn::Min(hn::Mul(hn::MulAdd(hn::Sub(c1, c0), t, c0), span), last);
    }
    return hn::IfThenElse(hn::RebindMask(d, inside), black, coord);
  };

  // Adds the interpolated LUT colour at coord to (r, g, b).
  auto add_lut = [&](VF coord, VF& r, VF& g, VF& b) {
    const VI e = hn::ConvertTo(di, coord);
    const VF f = hn::Sub(coord, hn::ConvertTo(d, e));
    const VI e4 = hn::ShiftLeft<2>(e);
    const VF r0 = hn::GatherIndex(d, a.lut + 0, e4), r1 = hn::GatherIndex(d, a.lut + 4, e4);
    const VF g0 = hn::GatherIndex(d, a.lut + 1, e4), g1 = hn::GatherIndex(d, a.lut + 5, e4);
    const VF b0 = hn::GatherIndex(d, a.lut + 2, e4), b1 = hn::GatherIndex(d, a.lut + 6, e4);
    r = hn::Add(r, hn::MulAdd(hn::Sub(r1, r0), f, r0));
    g = hn::Add(g, hn::MulAdd(hn::Sub(g1, g0), f, g0));
    b = hn::Add(b, hn::MulAdd(hn::Sub(b1, b0), f, b0));
  };

  // Mean of linear light -> sRGB through the interpolated table.
  const VF inv_n = hn::Set(d, 1.0f / static_cast<float>(ss * ss));
  auto to_srgb = [&](VF v) {
    const VF x = hn::Mul(hn::Min(hn::Max(hn::Mul(v, inv_n), zero), one), hn::Set(d, float(kToSrgbSize)));
    const VI j = hn::ConvertTo(di, x);
    const VF t = hn::Sub(x, hn::ConvertTo(d, j));
    const VF s0 = hn::GatherIndex(d, a.to_srgb, j), s1 = hn::GatherIndex(d, a.to_srgb + 1, j);
    return hn::MulAdd(hn::Sub(s1, s0), t, s0);
  };

  const float scale = sizeof(Out) == 1 ? 255.0f : 65535.0f;
  auto encode = [&](VF v) {
    const VF c = hn::Mul(hn::Min(hn::Max(v, zero), one), hn::Set(d, scale));
    return hn::DemoteTo(dout, hn::ConvertTo(di, hn::Add(c, hn::Set(d, 0.5f))));
  };

  Out* out = static_cast<Out*>(a.out);
  const VI iota = hn::Iota(di, 0);
  for (int i0 = 0; i0 < a.width; i0 += lanes) {
    const int rem = a.width - i0;
    const bool full = rem >= lanes;
    // Pixel offsets from i0; in the tail the last pixel repeats (results dropped).
    const VI pix = full ? iota : hn::Min(iota, hn::Set(di, rem - 1));
    VF r = zero, g = zero, b = zero;
    if constexpr (!kAvg) {
      VI k;
      VF m = four;
      if (full) {
        k = hn::LoadU(di, counts + i0);
        if constexpr (kMag) m = hn::LoadU(d, a.mag2 + i0);
      } else {
        k = hn::GatherIndex(di, counts + i0, pix);
        if constexpr (kMag) m = hn::GatherIndex(d, a.mag2 + i0, pix);
      }
      add_lut(coord_of(k, m), r, g, b);
    } else {
      const VI pix_ss = hn::Mul(pix, hn::Set(di, ss));
      for (int sb = 0; sb < ss; ++sb) {
        const std::size_t base = static_cast<std::size_t>(sb) * a.grid_w + static_cast<std::size_t>(i0) * ss;
        for (int sa = 0; sa < ss; ++sa) {
          const VI idx = hn::Add(pix_ss, hn::Set(di, sa));
          const VI k = hn::GatherIndex(di, counts + base, idx);
          VF m = four;
          if constexpr (kMag) m = hn::GatherIndex(d, a.mag2 + base, idx);
          add_lut(coord_of(k, m), r, g, b);
        }
      }
      r = to_srgb(r);
      g = to_srgb(g);
      b = to_srgb(b);
    }
    if (full) {
      hn::StoreInterleaved3(encode(r), encode(g), encode(b), dout, out + 3 * static_cast<std::size_t>(i0));
    } else {
      HWY_ALIGN Out tmp[3 * hn::MaxLanes(d)];
      hn::StoreInterleaved3(encode(r), encode(g), encode(b), dout, tmp);
      std::memcpy(out + 3 * static_cast<std::size_t>(i0), tmp, sizeof(Out) * 3 * static_cast<std::size_t>(rem));
    }
  }
}

template <bool kAvg, class Out>
void ShadeRowMode(const RowArgs& a) {
  switch (a.mode) {
    case Coloring::smooth:
      return a.mag2 ? ShadeRowT<Coloring::smooth, true, kAvg, Out>(a) : ShadeRowT<Coloring::smooth, false, kAvg, Out>(a);
    case Coloring::bands: return ShadeRowT<Coloring::bands, false, kAvg, Out>(a);
    case Coloring::histogram:
      return a.mag2 ? ShadeRowT<Coloring::histogram, true, kAvg, Out>(a)
                    : ShadeRowT<Coloring::histogram, false, kAvg, Out>(a);
  }
}

void ShadeRow(const RowArgs& a) {
  const bool avg = a.ss > 1;
  if (a.out_type == PixelType::u8)
    avg ? ShadeRowMode<true, std::uint8_t>(a) : ShadeRowMode<false, std::uint8_t>(a);
  else
    avg ? ShadeRowMode<true, std::uint16_t>(a) : ShadeRowMode<false, std::uint16_t>(a);
}

}  // namespace HWY_NAMESPACE
}  // namespace fractal::color_detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace fractal {
namespace color_detail {
HWY_EXPORT(ShadeRow);
void shade_row(const RowArgs& a) { HWY_DYNAMIC_DISPATCH(ShadeRow)(a); }
}  // namespace color_detail

namespace {

using color_detail::kToSrgbSize;
constexpr int kLutTarget = 4096;

float srgb_to_linear(float c) { return c <= 0.04045f ? c / 12.92f : std::pow((c + 0.055f) / 1.055f, 2.4f); }
float linear_to_srgb(float c) { return c <= 0.0031308f ? c * 12.92f : 1.055f * std::pow(c, 1.0f / 2.4f) - 0.055f; }

}  // namespace

Colorizer::Colorizer(const TaskSpec& spec) : spec_(spec) {
  std::vector<Rgb8> stops = spec.palette_stops;
  if (stops.empty()) stops = find_palette("classic")->stops;
  stops_ = static_cast<int>(stops.size());
  lut_per_stop_ = std::max(1, (kLutTarget + stops_ - 1) / stops_);
  lut_size_ = lut_per_stop_ * stops_;
  ss_ = std::clamp(spec.supersample, 1, kMaxSupersample);
  max_iter_ = static_cast<std::uint32_t>(std::clamp(spec.max_iter, 1, kMaxIter));

  lut_.assign(static_cast<std::size_t>(lut_size_ + 3) * 4, 0.0f);  // the last two entries stay black
  lut_linear_.assign(lut_.size(), 0.0f);
  for (int i = 0; i <= lut_size_; ++i) {
    const int s = (i / lut_per_stop_) % stops_;
    const float f = static_cast<float>(i % lut_per_stop_) / static_cast<float>(lut_per_stop_);
    const Rgb8 a = stops[s], b = stops[(s + 1) % stops_];
    const float ca[3] = {float(a.r), float(a.g), float(a.b)}, cb[3] = {float(b.r), float(b.g), float(b.b)};
    for (int c = 0; c < 3; ++c) {
      const float v = (ca[c] + (cb[c] - ca[c]) * f) / 255.0f;
      lut_[static_cast<std::size_t>(i) * 4 + c] = v;
      lut_linear_[static_cast<std::size_t>(i) * 4 + c] = srgb_to_linear(v);
    }
  }
  if (ss_ > 1) {
    to_srgb_.resize(kToSrgbSize + 2);  // one spare entry: the lookup reads j + 1 at x == 1
    for (int i = 0; i <= kToSrgbSize + 1; ++i)
      to_srgb_[i] = linear_to_srgb(std::min(1.0f, static_cast<float>(i) / kToSrgbSize));
  }
  if (needs_histogram()) histogram_.assign(max_iter_, 0);
}

bool Colorizer::needs_mag2() const { return spec_.coloring != Coloring::bands; }
bool Colorizer::needs_histogram() const { return spec_.coloring == Coloring::histogram; }

void Colorizer::add_to_histogram(const std::uint32_t* counts, std::size_t n) {
  if (histogram_.empty()) return;
  for (std::size_t i = 0; i < n; ++i)
    if (counts[i] < max_iter_) ++histogram_[counts[i]];
}

void Colorizer::finish_histogram() {
  if (histogram_.empty()) return;
  std::uint64_t total = 0;
  for (auto h : histogram_) total += h;
  // cdf_[k] = share of escaped samples with a count below k; cdf_[max_iter] = 1.
  cdf_.assign(static_cast<std::size_t>(max_iter_) + 1, 0.0f);
  if (total == 0) return;
  std::uint64_t below = 0;
  for (std::uint32_t k = 0; k < max_iter_; ++k) {
    below += histogram_[k];
    cdf_[k + 1] = static_cast<float>(static_cast<double>(below) / static_cast<double>(total));
  }
  cdf_[max_iter_] = 1.0f;
}

PixelType Colorizer::pixel_type() const {
  return spec_.format == ImageFormat::png || spec_.format == ImageFormat::jpg ? PixelType::u8 : PixelType::u16;
}

void Colorizer::colour_rows(const std::uint32_t* counts, const float* mag2, int pixel_row0, int pixel_rows,
                            ImageBuffer& out) const {
  // RGB u8/u16 only (what pixel_type() gives).
  if (out.channels != 3 || out.type == PixelType::f32 || pixel_rows <= 0) return;
  color_detail::RowArgs a;
  a.mode = spec_.coloring;
  // Histogram without finish_histogram(): nothing to equalise with, colour smoothly.
  if (a.mode == Coloring::histogram && cdf_.size() != static_cast<std::size_t>(max_iter_) + 1)
    a.mode = Coloring::smooth;
  const float* mag2_in = a.mode == Coloring::bands ? nullptr : mag2;
  a.ss = ss_;
  a.width = out.width;
  a.grid_w = static_cast<std::size_t>(out.width) * ss_;
  a.max_iter = static_cast<std::int32_t>(max_iter_);
  a.lut_size = static_cast<float>(lut_size_);
  a.stops = static_cast<float>(stops_);
  a.per_stop = static_cast<float>(lut_per_stop_);
  a.lut = ss_ > 1 ? lut_linear_.data() : lut_.data();
  a.cdf = cdf_.data();
  a.to_srgb = to_srgb_.data();
  a.out_type = out.type;
  const std::size_t band_stride = a.grid_w * ss_;  // samples per pixel row
  for (int r = 0; r < pixel_rows; ++r) {
    a.counts = counts + band_stride * r;
    a.mag2 = mag2_in ? mag2_in + band_stride * r : nullptr;
    a.out = out.data.data() + out.row_bytes() * static_cast<std::size_t>(pixel_row0 + r);
    color_detail::shade_row(a);
  }
}

}  // namespace fractal
#endif  // HWY_ONCE
