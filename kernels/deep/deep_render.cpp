#include "kernels/deep/deep_render.h"

#include <mpfr.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/thread_pool.h"
#include "kernels/deep/perturbation.h"
#include "kernels/deep/sample_lanes.h"

namespace fractal::deep {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

class Mpfr {
 public:
  explicit Mpfr(mpfr_prec_t bits) { mpfr_init2(v_, bits); }
  ~Mpfr() { mpfr_clear(v_); }
  Mpfr(const Mpfr&) = delete;
  Mpfr& operator=(const Mpfr&) = delete;
  mpfr_ptr get() { return v_; }
  mpfr_srcptr get() const { return v_; }

 private:
  mpfr_t v_;
};

// The decimal text exactly (rounded to `x`'s precision), or the double.
void set_decimal(Mpfr& x, const Decimal& d) {
  if (d.text.empty()) {
    mpfr_set_d(x.get(), d.value, MPFR_RNDN);
    return;
  }
  const char* text = d.text.c_str();
  if (*text == '+') ++text;
  if (mpfr_set_str(x.get(), text, 10, MPFR_RNDN) != 0) throw std::invalid_argument("deep: bad decimal " + d.text.substr(0, 40));
}

// x += a * 2^e (exact at x's precision, up to one rounding).
void add_scaled(Mpfr& x, double a, int e) {
  if (a == 0) return;
  Mpfr t(64);
  mpfr_set_d(t.get(), a, MPFR_RNDN);
  mpfr_mul_2si(t.get(), t.get(), e, MPFR_RNDN);
  mpfr_add(x.get(), x.get(), t.get(), MPFR_RNDN);
}


struct BlaTable {
  bool julia = false;
  FExp dc_max;
  std::vector<BlaEntry> entries;
  std::vector<int> start, count;
  int origin = 0;
  BlaView view() const {
    return BlaView{entries.data(), start.data(), count.data(), static_cast<int>(start.size()), origin};
  }
};

struct Orbit;
BlaTable build_bla(const Orbit& orbit, bool julia, FExp dc_max);

struct Orbit {
  std::vector<double> re, im;
  bool escaped = false;
  OrbitView view() const { return OrbitView{re.data(), im.data(), static_cast<int>(re.size()), escaped}; }

  // The BLA table for views of a given extent, built once and kept with the
  // orbit: every band of a view (and a device copy of it) shares one table.
  // A table belongs to this orbit for its whole life, so holding it names the
  // pair (see SampleRunner::run's `tables`).
  std::shared_ptr<const BlaTable> bla(bool julia, FExp dc_max) const {
    std::lock_guard lock(bla_mutex);
    for (const auto& t : bla_tables)
      if (t->julia == julia && t->dc_max.m == dc_max.m && t->dc_max.e == dc_max.e) return t;
    auto t = std::make_shared<const BlaTable>(build_bla(*this, julia, dc_max));
    if (bla_tables.size() >= kMaxBlaTables) bla_tables.erase(bla_tables.begin());  // passes still running hold theirs
    bla_tables.push_back(t);
    return t;
  }
  std::size_t bytes() const {
    std::lock_guard lock(bla_mutex);
    std::size_t b = re.size() * 2 * sizeof(double);
    for (const auto& t : bla_tables) b += t->entries.size() * sizeof(BlaEntry);
    return b;
  }

 private:
  static constexpr std::size_t kMaxBlaTables = 4;
  mutable std::mutex bla_mutex;
  mutable std::vector<std::shared_ptr<const BlaTable>> bla_tables;
};

// Z_0 = z0 (Mandelbrot: 0), Z_{n+1} = Z_n^2 + c, until |Z_n|^2 > 4 or n = max_iter.
std::shared_ptr<const Orbit> compute_orbit(const Mpfr& z0_re, const Mpfr& z0_im, const Mpfr& c_re, const Mpfr& c_im,
                                           int max_iter, mpfr_prec_t bits, const std::atomic<bool>* cancel,
                                           std::atomic<std::uint64_t>* progress) {
  auto orbit = std::make_shared<Orbit>();
  Mpfr zr(bits), zi(bits), a(bits), b(bits);
  mpfr_set(zr.get(), z0_re.get(), MPFR_RNDN);
  mpfr_set(zi.get(), z0_im.get(), MPFR_RNDN);
  orbit->re.reserve(std::min(max_iter + 1, 1 << 20));
  orbit->im.reserve(std::min(max_iter + 1, 1 << 20));
  for (int n = 0;; ++n) {
    const double dr = mpfr_get_d(zr.get(), MPFR_RNDN), di = mpfr_get_d(zi.get(), MPFR_RNDN);
    orbit->re.push_back(dr);
    orbit->im.push_back(di);
    if (dr * dr + di * di > 4) {
      orbit->escaped = true;
      break;
    }
    if (n >= max_iter) break;
    if ((n & 1023) == 1023) {
      if (cancel && cancel->load()) return nullptr;
      if (progress) progress->fetch_add(1024, std::memory_order_relaxed);
    }
    mpfr_sqr(a.get(), zr.get(), MPFR_RNDN);
    mpfr_sqr(b.get(), zi.get(), MPFR_RNDN);
    mpfr_mul(zi.get(), zi.get(), zr.get(), MPFR_RNDN);
    mpfr_mul_2ui(zi.get(), zi.get(), 1, MPFR_RNDN);
    mpfr_add(zi.get(), zi.get(), c_im.get(), MPFR_RNDN);
    mpfr_sub(zr.get(), a.get(), b.get(), MPFR_RNDN);
    mpfr_add(zr.get(), zr.get(), c_re.get(), MPFR_RNDN);
  }
  return orbit;
}

// Recently used reference orbits, shared by all renders of this process.
class OrbitCache {
 public:
  std::shared_ptr<const Orbit> find(const std::string& key) {
    std::lock_guard lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == key) {
        entries_.splice(entries_.begin(), entries_, it);
        return it->second;
      }
    }
    return nullptr;
  }
  void put(const std::string& key, std::shared_ptr<const Orbit> orbit) {
    std::lock_guard lock(mutex_);
    entries_.emplace_front(key, std::move(orbit));
    std::size_t bytes = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
      bytes += it->second->bytes();
      if (bytes > kMaxBytes && it != entries_.begin()) {
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }

 private:
  static constexpr std::size_t kMaxBytes = std::size_t{256} << 20;
  std::mutex mutex_;
  std::list<std::pair<std::string, std::shared_ptr<const Orbit>>> entries_;
};

OrbitCache& orbit_cache() {
  static OrbitCache cache;
  return cache;
}

std::string decimal_key(const Decimal& d) {
  if (!d.text.empty()) return d.text;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%a", d.value);
  return buf;
}

// The view: exact centre, scale as mantissa * 2^exponent, pixel offsets from the centre.
struct View {
  const TaskSpec& spec;
  int grid_w, grid_h;
  double scale_m = 0;
  int scale_e = 0;
  mpfr_prec_t bits = 64;

  // Offset of grid point (gi, gj) from the centre: docs/api.md's pixel formula, as iterate_sample computes it.
  CExp offset(int gi, int gj) const {
    SamplePass p;
    p.grid_width = grid_w;
    p.grid_height = grid_h;
    p.scale_m = scale_m;
    p.scale_e = scale_e;
    return grid_offset(p, gi, gj);
  }
};

struct Reference {
  CExp offset;  // reference point - view centre
  std::shared_ptr<const Orbit> orbit;
};

Reference make_reference(const View& v, CExp offset, const Band& band, DeepStats& stats) {
  const std::atomic<bool>* cancel = band.cancel;
  const TaskSpec& s = v.spec;
  const bool julia = s.fractal == FractalKind::julia;
  char off[96];
  std::snprintf(off, sizeof off, "%a,%a,%d", offset.re, offset.im, offset.e);
  std::string key = std::string(to_string(s.fractal)) + "|" + decimal_key(s.center[0]) + "|" + decimal_key(s.center[1]) +
                    "|" + off + "|" + std::to_string(s.max_iter) + "|" + std::to_string(v.bits);
  if (julia) key += "|" + decimal_key((*s.julia_c)[0]) + "|" + decimal_key((*s.julia_c)[1]);
  Reference r{offset, orbit_cache().find(key)};
  ++stats.references;
  if (r.orbit) {
    ++stats.orbit_cache_hits;
    return r;
  }
  const auto t0 = Clock::now();
  Mpfr pr(v.bits), pi(v.bits), cr(v.bits), ci(v.bits), zero_r(v.bits), zero_i(v.bits);
  set_decimal(pr, s.center[0]);
  set_decimal(pi, s.center[1]);
  add_scaled(pr, offset.re, offset.e);
  add_scaled(pi, offset.im, offset.e);
  mpfr_set_zero(zero_r.get(), 1);
  mpfr_set_zero(zero_i.get(), 1);
  if (julia) {
    set_decimal(cr, (*s.julia_c)[0]);
    set_decimal(ci, (*s.julia_c)[1]);
    r.orbit = compute_orbit(pr, pi, cr, ci, s.max_iter, v.bits, cancel, band.orbit_progress);
  } else {
    r.orbit = compute_orbit(zero_r, zero_i, pr, pi, s.max_iter, v.bits, cancel, band.orbit_progress);
  }
  stats.orbit_seconds += seconds_since(t0);
  if (r.orbit) orbit_cache().put(key, r.orbit);
  return r;
}

BlaTable build_bla(const Orbit& orbit, bool julia, FExp dc_max) {
  BlaTable t;
  t.julia = julia;
  t.dc_max = dc_max;
  t.origin = julia ? 0 : 1;  // a Mandelbrot orbit starts at Z_0 = 0: its first step is dz_1 = dc, exactly
  const int length = static_cast<int>(orbit.re.size());
  const FExp eps = fexp(0.5, kBlaEpsilonLog2 + 1);
  const CExp one{0.5, 0, 1};
  t.start.push_back(0);
  for (int n = t.origin; n + 1 <= length - 1; ++n) {
    BlaEntry e;
    e.a = normalized(2 * orbit.re[n], 2 * orbit.im[n], 0);
    e.b = julia ? CExp{} : one;
    e.r = mul(eps, magnitude(e.a));
    t.entries.push_back(e);
  }
  t.count.push_back(static_cast<int>(t.entries.size()));
  while (t.count.back() >= 2 && t.start.size() < 30) {
    const int prev_start = t.start.back(), prev_count = t.count.back();
    t.start.push_back(static_cast<int>(t.entries.size()));
    for (int m = 0; m + 1 < prev_count; m += 2) {
      const BlaEntry x = t.entries[prev_start + m], y = t.entries[prev_start + m + 1];
      BlaEntry z;
      z.a = mul(y.a, x.a);
      z.b = add(mul(y.a, x.b), y.b);
      z.r = min(x.r, div(sub_floor0(y.r, mul(magnitude(x.b), dc_max)), magnitude(x.a)));
      t.entries.push_back(z);
    }
    t.count.push_back(static_cast<int>(t.entries.size()) - t.start.back());
  }
  return t;
}

cpu::ThreadPool& pool() {
  static cpu::ThreadPool p(cpu::resolve_threads(0));
  return p;
}

class CpuSampleRunner final : public SampleRunner {
 public:
  explicit CpuSampleRunner(bool lanes) : lanes_(lanes) {}
  Result run(const SamplePass& pass, const std::shared_ptr<const void>&, const Band& band,
             bool count_progress) override {
    Result result;
    std::mutex merge;
    const std::size_t chunk = pass.only ? 256 : static_cast<std::size_t>(band.grid_width);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    static std::mutex pool_mutex;  // one parallel region at a time on the shared pool
    std::lock_guard pool_lock(pool_mutex);
    pool().run([&](int) {
      struct Sink final : SampleSink {
        const Band& band;
        std::vector<std::uint32_t> mine;
        std::uint64_t my_rebases = 0, my_skipped = 0;
        explicit Sink(const Band& b) : band(b) {}
        void done(std::uint32_t idx, const PixelResult& p) override {
          band.counts[idx] = p.count;
          if (band.mag2) band.mag2[idx] = p.mag2;
          my_rebases += p.rebases;
          if (!p.exhausted) my_skipped += p.skipped;
          if (p.exhausted) mine.push_back(idx);
        }
      } sink(band);
      for (;;) {
        if (band.cancel && band.cancel->load()) {
          stop = true;
          break;
        }
        const std::size_t first = next.fetch_add(chunk);
        if (first >= pass.count) break;
        const std::size_t last = std::min(pass.count, first + chunk);
        if (lanes_) iterate_samples_in_lanes(pass, first, last, sink);
        else iterate_samples_one_by_one(pass, first, last, sink);
        if (count_progress && band.progress) band.progress->fetch_add(last - first);
      }
      std::lock_guard lock(merge);
      result.exhausted.insert(result.exhausted.end(), sink.mine.begin(), sink.mine.end());
      result.rebases += sink.my_rebases;
      result.skipped += sink.my_skipped;
    });
    result.canceled = stop;
    return result;
  }
  [[nodiscard]] std::string name() const override { return "cpu"; }

 private:
  bool lanes_;  // kernels/deep/sample_lanes.h: four samples at a time, or one
};

}  // namespace

SampleRunner& cpu_sample_runner() {
  static CpuSampleRunner runner(true);
  return runner;
}

SampleRunner& cpu_sample_runner_one_by_one() {
  static CpuSampleRunner runner(false);
  return runner;
}

std::uint64_t render_band(const TaskSpec& spec, const Band& band, DeepStats& stats, bool& canceled,
                          SampleRunner* runner_or_null) {
  canceled = false;
  View v{spec, band.grid_width, band.grid_height};
  {
    Mpfr scale(std::max<mpfr_prec_t>(64, static_cast<mpfr_prec_t>(spec.scale.text.size() * 4 + 64)));
    set_decimal(scale, spec.scale);
    long e = 0;
    v.scale_m = mpfr_get_d_2exp(&e, scale.get(), MPFR_RNDN);
    v.scale_e = static_cast<int>(e);
  }
  // Enough bits to resolve the sample spacing at the view's magnitude, plus 64.
  const double spacing_log2 = spec.scale.log2_abs - std::log2(static_cast<double>(band.grid_width));
  const double reach_log2 = std::log2(std::max({1.0, std::abs(spec.center[0].value), std::abs(spec.center[1].value)}));
  v.bits = static_cast<mpfr_prec_t>(std::max(64.0, std::ceil(reach_log2 - spacing_log2) + 64));

  const bool julia = spec.fractal == FractalKind::julia;
  const int max_iter = spec.max_iter;
  const std::size_t n = static_cast<std::size_t>(band.rows) * band.grid_width;

  Reference ref = make_reference(v, CExp{}, band, stats);
  if (!ref.orbit) {
    canceled = true;
    return 0;
  }
  if (stats.reference_length == 0) stats.reference_length = static_cast<int>(ref.orbit->re.size());

  // Renders the listed samples (indices into the band) against `r`; returns those left exhausted.
  std::uint64_t rebases = 0;
  // |dc| of any sample against any reference in the view: at most the view's diagonal.
  const FExp dc_max = fexp(v.scale_m * std::hypot(1.0, static_cast<double>(band.grid_height) / band.grid_width), v.scale_e);
  std::uint64_t skipped = 0;
  SampleRunner& runner = runner_or_null != nullptr ? *runner_or_null : cpu_sample_runner();
  stats.runner = runner.name();
  auto run = [&](const Reference& r, const std::vector<std::uint32_t>* only, bool count_progress) {
    const std::shared_ptr<const BlaTable> table = r.orbit->bla(julia, dc_max);
    SamplePass pass;
    pass.orbit = r.orbit->view();
    pass.bla = table->view();
    pass.julia = julia;
    pass.max_iter = max_iter;
    pass.scale_m = v.scale_m;
    pass.scale_e = v.scale_e;
    pass.ref_offset = r.offset;
    pass.grid_width = band.grid_width;
    pass.grid_height = band.grid_height;
    pass.row0 = band.row0;
    pass.only = only ? only->data() : nullptr;
    pass.count = only ? only->size() : n;
    SampleRunner::Result res = runner.run(pass, table, band, count_progress);
    rebases += res.rebases;
    skipped += res.skipped;
    if (res.canceled) canceled = true;
    return std::move(res.exhausted);
  };

  const auto t0 = Clock::now();
  const double orbit_before = stats.orbit_seconds;
  std::vector<std::uint32_t> exhausted = run(ref, nullptr, true);
  // Samples that outlived an escaped reference: again, against a reference at
  // the one of them that lived longest, a few times at most.
  constexpr int kMaxReReferences = 8;
  for (int round = 0; round < kMaxReReferences && !exhausted.empty() && !canceled; ++round) {
    std::sort(exhausted.begin(), exhausted.end());
    const auto best = *std::max_element(exhausted.begin(), exhausted.end(), [&](std::uint32_t a, std::uint32_t b) {
      return band.counts[a] < band.counts[b];
    });
    const int gi = static_cast<int>(best % band.grid_width);
    const int gj = band.row0 + static_cast<int>(best / band.grid_width);
    Reference next = make_reference(v, v.offset(gi, gj), band, stats);
    if (!next.orbit) {
      canceled = true;
      break;
    }
    exhausted = run(next, &exhausted, false);
  }
  stats.pixel_seconds += seconds_since(t0) - (stats.orbit_seconds - orbit_before);
  stats.rebases += rebases;
  stats.exhausted_left += exhausted.size();
  std::uint64_t iterations = 0;
  for (std::size_t i = 0; i < n; ++i) iterations += band.counts[i];
  stats.iterations += iterations;
  stats.bla_skipped += skipped;
  return iterations;
}

}  // namespace fractal::deep
