// Escape-time iteration with Highway: one template over the number type,
// compiled once per SIMD target by foreach_target and dispatched at run time.
//
// Why it looks like this: the recurrence is a chain of dependent FMAs, so a
// single vector is latency-bound. kGroup independent vectors are iterated in
// lock-step to fill the FMA pipes. Each lane keeps a sticky "active" mask and
// a count that grows while active, so counts are exact per lane without
// branches; the group stops when every lane has escaped or max_iter is reached.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/mandel_hwy.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <type_traits>

#include "kernels/cpu/escape_row.h"

HWY_BEFORE_NAMESPACE();
namespace fractal::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// kSticky: keep an explicit "still iterating" mask. Needed only where an
// escaped orbit can come back inside radius 2 (Julia with |c| > 2). Elsewhere
// escape is monotone (|z| > max(2, |c|) implies |z^2 + c| > |z|), so a lane's
// count is simply the number of steps with |z|^2 <= 4, and NaN/inf after
// overflow compare false: one compare and one masked add per step.
//
// Double rounds every operation exactly as the plain expression
// zr*zr - zi*zi + cr, 2*zr*zi + ci, zr*zr + zi*zi does (no FMA), so double
// counts are bit-identical to an IEEE double reference even where orbits are
// chaotic (deep zooms). Float uses FMAs: faster, and float is only chosen
// where it already draws the same picture.
template <class T, bool kMag, bool kSticky, int kGroup>
std::uint64_t EscapeRowT(const RowArgs& a) {
  constexpr bool kFused = sizeof(T) == 4;
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  using M = hn::Mask<decltype(d)>;
  const int lanes = static_cast<int>(hn::Lanes(d));
  const T* re = static_cast<const T*>(a.re);

  const V four = hn::Set(d, T(4));
  const V one = hn::Set(d, T(1));
  const V im = hn::Set(d, static_cast<T>(a.im));
  const V jre = hn::Set(d, static_cast<T>(a.c_re));
  const V jim = hn::Set(d, static_cast<T>(a.c_im));

  HWY_ALIGN T count_buf[kGroup * hn::MaxLanes(d)];
  HWY_ALIGN float mag_buf[kGroup * hn::MaxLanes(d)];
  std::uint64_t total = 0;

  for (int x0 = 0; x0 < a.n; x0 += kGroup * lanes) {
    V zr[kGroup], zi[kGroup], cr[kGroup], ci[kGroup], cnt[kGroup], mag_out[kGroup];
    M prev[kGroup];
    for (int g = 0; g < kGroup; ++g) {
      const V px = hn::LoadU(d, re + x0 + g * lanes);
      zr[g] = a.julia ? px : hn::Zero(d);
      zi[g] = a.julia ? im : hn::Zero(d);
      cr[g] = a.julia ? jre : px;
      ci[g] = a.julia ? jim : im;
      cnt[g] = hn::Zero(d);
      mag_out[g] = hn::Zero(d);
      prev[g] = hn::Eq(one, one);  // all lanes start inside
    }
    // One step of every vector of the group; returns whether any lane is still inside.
    auto step = [&](auto check) HWY_ATTR {
      M any = hn::Lt(one, one);  // none
      for (int g = 0; g < kGroup; ++g) {
        const V zi2 = hn::Mul(zi[g], zi[g]);
        const V zr2 = kFused ? zi2 : hn::Mul(zr[g], zr[g]);
        const V mag = kFused ? hn::MulAdd(zr[g], zr[g], zi2) : hn::Add(zr2, zi2);
        M still = hn::Le(mag, four);
        if constexpr (kSticky) still = hn::And(prev[g], still);
        // The step where a lane leaves: prev true, mag > 4 -> |z_k|^2 at escape.
        if constexpr (kMag) mag_out[g] = hn::IfThenElse(prev[g], mag, mag_out[g]);
        if constexpr (kMag || kSticky) prev[g] = still;
        cnt[g] = hn::IfThenElse(still, hn::Add(cnt[g], one), cnt[g]);
        if constexpr (decltype(check)::value) any = hn::Or(any, still);
        // z' = z^2 + c: re = zr^2 - zi^2 + cr, im = 2 zr zi + ci.
        if constexpr (kFused) {
          const V zr_new = hn::MulAdd(zr[g], zr[g], hn::Sub(cr[g], zi2));
          zi[g] = hn::MulAdd(hn::Add(zr[g], zr[g]), zi[g], ci[g]);
          zr[g] = zr_new;
        } else {
          zi[g] = hn::Add(hn::Mul(hn::Add(zr[g], zr[g]), zi[g]), ci[g]);
          zr[g] = hn::Add(hn::Sub(zr2, zi2), cr[g]);
        }
      }
      return !hn::AllFalse(d, any);
    };
    // Steps in fours, testing for the end only after the fourth: an escaped
    // lane stays escaped, so the extra steps change no count (measured on
    // workload B float: testing every step 16.7, every 2nd 18.5, every 4th 19.0 G iter/s).
    int k = 0;
    bool inside = true;
    for (; k + 3 < a.max_iter && inside; k += 4) {
      step(std::false_type{});
      step(std::false_type{});
      step(std::false_type{});
      inside = step(std::true_type{});
    }
    for (; k < a.max_iter && inside; ++k) inside = step(std::true_type{});
    for (int g = 0; g < kGroup; ++g) {
      hn::Store(cnt[g], d, count_buf + g * lanes);
      if constexpr (kMag) {
        if constexpr (sizeof(T) == 4) {
          hn::Store(mag_out[g], d, reinterpret_cast<T*>(mag_buf + g * lanes));
        } else {
          HWY_ALIGN T tmp[hn::MaxLanes(d)];
          hn::Store(mag_out[g], d, tmp);
          for (int l = 0; l < lanes; ++l) mag_buf[g * lanes + l] = static_cast<float>(tmp[l]);
        }
      }
    }
    const int valid = std::min(kGroup * lanes, a.n - x0);
    for (int l = 0; l < valid; ++l) {
      const auto c = static_cast<std::uint32_t>(count_buf[l]);
      a.counts[x0 + l] = c;
      total += c;
      if constexpr (kMag) a.mag2[x0 + l] = c < static_cast<std::uint32_t>(a.max_iter) ? mag_buf[l] : 0.0f;
    }
  }
  return total;
}

// Four interleaved vectors hide the FMA latency. Measured on workload A, double,
// AVX-512, 2 cores: 1, 2, 4, 6, 8 vectors gave 4.1, 6.7, 8.8, 8.6, 8.5 G iter/s.
constexpr int kGroupSize = 4;

template <class T>
std::uint64_t Dispatch(const RowArgs& a) {
  const bool sticky = a.julia && a.c_re * a.c_re + a.c_im * a.c_im > 4.0;
  if (a.mag2) return sticky ? EscapeRowT<T, true, true, kGroupSize>(a) : EscapeRowT<T, true, false, kGroupSize>(a);
  return sticky ? EscapeRowT<T, false, true, kGroupSize>(a) : EscapeRowT<T, false, false, kGroupSize>(a);
}

std::uint64_t EscapeRowF32(const RowArgs& a) { return Dispatch<float>(a); }
std::uint64_t EscapeRowF64(const RowArgs& a) { return Dispatch<double>(a); }

}  // namespace HWY_NAMESPACE
}  // namespace fractal::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <hwy/targets.h>

namespace fractal::cpu {

HWY_EXPORT(EscapeRowF32);
HWY_EXPORT(EscapeRowF64);

std::uint64_t escape_row_f32(const RowArgs& args) { return HWY_DYNAMIC_DISPATCH(EscapeRowF32)(args); }
std::uint64_t escape_row_f64(const RowArgs& args) { return HWY_DYNAMIC_DISPATCH(EscapeRowF64)(args); }

std::string simd_target_name() {
  // The dispatcher's choice: the best target both compiled in and supported (lowest bit is best).
  const std::int64_t usable = hwy::SupportedTargets() & HWY_TARGETS;
  std::string name = hwy::TargetName(usable & -usable);
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (name == "avx3" || name.rfind("avx3_", 0) == 0) return "avx512";
  return name;
}

}  // namespace fractal::cpu
#endif
