// Deep zoom against a per-pixel arbitrary-precision reference: every sample
// iterated in MPFR with enough bits to resolve the pixel spacing plus 64, at
// views from 1e-20 to below 1e-4000. The rule of the contract: >= 99 % of the
// counts equal, and no wrong connected region of 16 or more pixels.
#include <gtest/gtest.h>
#include <mpfr.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <queue>
#include <thread>
#include <nlohmann/json.hpp>

#include "bench/kernels/minibrot_spike.h"
#include "kernels/deep/deep_render.h"
#include "kernels/grid_map.h"
#include "kernels/render_task.h"
#include "kernels/renderer.h"
#include "kernels/task_spec.h"

namespace fractal {
namespace {

using nlohmann::json;

TaskSpec spec_of(const json& body) {
  ParseResult r = parse_task_spec(body);
  if (!r.ok()) throw std::runtime_error(r.error->message);
  return *r.spec;
}

struct M {
  explicit M(mpfr_prec_t bits) { mpfr_init2(v, bits); }
  ~M() { mpfr_clear(v); }
  mpfr_t v;
};

void set_text(M& x, const json& j) {
  if (j.is_string()) {
    mpfr_set_str(x.v, j.get<std::string>().c_str(), 10, MPFR_RNDN);
  } else {
    mpfr_set_d(x.v, j.get<double>(), MPFR_RNDN);
  }
}

// Brute force: z_{k+1} = z_k^2 + c in MPFR for every pixel of the view.
std::vector<std::uint32_t> reference_counts(const json& body) {
  const TaskSpec s = spec_of(body);
  const int W = s.width, H = s.height;
  const double spacing_log2 = s.pixel_spacing_log2();
  const mpfr_prec_t bits = static_cast<mpfr_prec_t>(std::max(64.0, std::ceil(-spacing_log2) + 64 + 2));
  std::vector<std::uint32_t> out(static_cast<std::size_t>(W) * H);
  std::atomic<int> next{0};
  auto work = [&] {
    M cr0(bits), ci0(bits), sc(bits), zr(bits), zi(bits), a(bits), b(bits), cr(bits), ci(bits), t(bits);
    set_text(cr0, body["center"][0]);
    set_text(ci0, body["center"][1]);
    set_text(sc, body["scale"]);
    const bool julia = s.fractal == FractalKind::julia;
    M jr(bits), ji(bits);
    if (julia) {
      set_text(jr, body["julia_c"][0]);
      set_text(ji, body["julia_c"][1]);
    }
    for (;;) {
      const int p = next.fetch_add(1);
      if (p >= W * H) return;
      const int i = p % W, j = p / W;
      // kernels/grid_map.h, exactly: re = center.re + (2i + 1 - W) scale / (2W)
      mpfr_mul_si(t.v, sc.v, static_cast<long>(grid_re_numerator(W, i)), MPFR_RNDN);
      mpfr_div_si(t.v, t.v, 2 * W, MPFR_RNDN);
      mpfr_add(cr.v, cr0.v, t.v, MPFR_RNDN);
      // im = center.im + (H - 2j - 1) scale / (2W)
      mpfr_mul_si(t.v, sc.v, static_cast<long>(grid_im_numerator(H, j)), MPFR_RNDN);
      mpfr_div_si(t.v, t.v, 2 * W, MPFR_RNDN);
      mpfr_add(ci.v, ci0.v, t.v, MPFR_RNDN);
      if (julia) {
        mpfr_set(zr.v, cr.v, MPFR_RNDN);
        mpfr_set(zi.v, ci.v, MPFR_RNDN);
        mpfr_set(cr.v, jr.v, MPFR_RNDN);
        mpfr_set(ci.v, ji.v, MPFR_RNDN);
      } else {
        mpfr_set_zero(zr.v, 1);
        mpfr_set_zero(zi.v, 1);
      }
      std::uint32_t k = 0;
      for (;; ++k) {
        const double dr = mpfr_get_d(zr.v, MPFR_RNDN), di = mpfr_get_d(zi.v, MPFR_RNDN);
        if (dr * dr + di * di > 4 || k >= static_cast<std::uint32_t>(s.max_iter)) break;
        mpfr_sqr(a.v, zr.v, MPFR_RNDN);
        mpfr_sqr(b.v, zi.v, MPFR_RNDN);
        mpfr_mul(zi.v, zi.v, zr.v, MPFR_RNDN);
        mpfr_mul_2ui(zi.v, zi.v, 1, MPFR_RNDN);
        mpfr_add(zi.v, zi.v, ci.v, MPFR_RNDN);
        mpfr_sub(zr.v, a.v, b.v, MPFR_RNDN);
        mpfr_add(zr.v, zr.v, cr.v, MPFR_RNDN);
      }
      out[p] = k;
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  return out;
}

struct Rendered {
  std::vector<std::uint32_t> counts;
  deep::DeepStats stats;
  Scalar scalar;
};

// One renderer per backend for the whole executable; null (and the reason)
// where the backend cannot be made.
std::shared_ptr<Renderer> renderer_for(BackendKind kind, std::string* why = nullptr) {
  static std::map<BackendKind, std::shared_ptr<Renderer>> made;
  static std::map<BackendKind, std::string> unavailable;
  if (!made.count(kind) && !unavailable.count(kind)) {
    try {
      made[kind] = make_renderer(kind, {});
    } catch (const BackendUnavailable& e) {
      unavailable[kind] = e.what();
    }
  }
  if (why != nullptr && unavailable.count(kind)) *why = unavailable[kind];
  return made.count(kind) ? made[kind] : nullptr;
}

Rendered render_counts(json body, Renderer& r) {
  body["output"] = "iterations";
  body["format"] = "exr";
  const TaskSpec s = spec_of(body);
  TaskRun run(s);
  TaskRun* runs[] = {&run};
  render_tasks(r, runs);
  Rendered out;
  out.scalar = run.scalar;
  out.stats = run.deep;
  out.counts.resize(static_cast<std::size_t>(s.width) * s.height);
  for (int j = 0; j < s.height; ++j)
    for (int i = 0; i < s.width; ++i)
      out.counts[static_cast<std::size_t>(j) * s.width + i] = static_cast<std::uint32_t>(run.image.row<float>(j)[i]);
  return out;
}

Rendered render_counts(const json& body) { return render_counts(body, *renderer_for(BackendKind::cpu)); }

// Largest 4-connected region of differing pixels.
int largest_wrong_region(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b, int W, int H) {
  std::vector<char> seen(a.size(), 0);
  int best = 0;
  for (int start = 0; start < W * H; ++start) {
    if (seen[start] || a[start] == b[start]) continue;
    int size = 0;
    std::queue<int> q;
    q.push(start);
    seen[start] = 1;
    while (!q.empty()) {
      const int p = q.front();
      q.pop();
      ++size;
      const int i = p % W, j = p / W;
      const int nb[4][2] = {{i - 1, j}, {i + 1, j}, {i, j - 1}, {i, j + 1}};
      for (auto [x, y] : nb) {
        if (x < 0 || y < 0 || x >= W || y >= H) continue;
        const int n = y * W + x;
        if (!seen[n] && a[n] != b[n]) {
          seen[n] = 1;
          q.push(n);
        }
      }
    }
    best = std::max(best, size);
  }
  return best;
}

struct DeepCase {
  const char* name;
  json body;
};
// ctest's and gtest's listings name the view, not its bytes.
void PrintTo(const DeepCase& c, std::ostream* os) { *os << c.name; }

// The contract's rule for one view on one backend.
void expect_matches_mpfr(const DeepCase& c, Renderer& renderer) {
  const json body = c.body;
  const Rendered got = render_counts(body, renderer);
  // One MPFR reference per view for the whole executable: the CPU and CUDA suites share it.
  static std::map<std::string, std::vector<std::uint32_t>> references;
  auto [it, added] = references.try_emplace(body.dump());
  if (added) it->second = reference_counts(body);
  const std::vector<std::uint32_t>& want = it->second;
  ASSERT_EQ(got.scalar, Scalar::deep);
  const int W = body["width"], H = body["height"];
  std::size_t equal = 0;
  std::uint32_t min_count = UINT32_MAX, max_count = 0, got_min = UINT32_MAX, got_max = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    equal += got.counts[i] == want[i];
    got_min = std::min(got_min, got.counts[i]);
    got_max = std::max(got_max, got.counts[i]);
    min_count = std::min(min_count, want[i]);
    max_count = std::max(max_count, want[i]);
  }
  const double share = static_cast<double>(equal) / static_cast<double>(want.size());
  EXPECT_GE(share, 0.99) << equal << " of " << want.size() << "; rendered counts " << got_min << ".." << got_max;
  EXPECT_LT(largest_wrong_region(got.counts, want, W, H), 16);
  EXPECT_LT(min_count, max_count) << "a view with no structure tests nothing";
  std::cout << c.name << " on " << renderer.name() << ": " << equal << "/" << want.size() << " equal, counts " << min_count << ".."
            << max_count << ", reference length " << got.stats.reference_length << ", references "
            << got.stats.references << ", rebases " << got.stats.rebases << ", BLA skipped "
            << (got.stats.iterations ? 100.0 * got.stats.bla_skipped / got.stats.iterations : 0) << " %, orbit " << got.stats.orbit_seconds
            << " s, pixels " << got.stats.pixel_seconds << " s\n";
}

class DeepAgainstMpfr : public ::testing::TestWithParam<DeepCase> {};

TEST_P(DeepAgainstMpfr, CountsMatchThePerPixelReference) { expect_matches_mpfr(GetParam(), *renderer_for(BackendKind::cpu)); }

// The same views with the samples on the GPU (kernels/cuda/deep_runner.cu).
class DeepCudaAgainstMpfr : public ::testing::TestWithParam<DeepCase> {};

TEST_P(DeepCudaAgainstMpfr, CountsMatchThePerPixelReference) {
  std::string why;
  const std::shared_ptr<Renderer> cuda = renderer_for(BackendKind::cuda, &why);
  if (!cuda) GTEST_SKIP() << "no CUDA backend here, deep samples cannot run on a GPU: " << why;
  expect_matches_mpfr(GetParam(), *cuda);
}

json mandel(const char* re, const char* im, const char* scale, int w, int h, int max_iter) {
  return {{"center", {re, im}}, {"scale", scale}, {"width", w}, {"height", h}, {"max_iter", max_iter}};
}

// The benchmark's minibrot location (bench/kernels/minibrot_spike.h) for a view of 10^scale_log10.
json spike(double scale_log10, const char* scale, int w, int h, int max_iter) {
  const bench::SpikeLocation at = bench::spike_location(scale_log10, w);
  return {{"center", {at.re, "0"}}, {"scale", scale}, {"width", w}, {"height", h}, {"max_iter", max_iter}};
}

// c = i is a Misiurewicz point of the Mandelbrot set (its orbit 0, i, -1+i, -i,
// -1+i, ... never escapes): every view around it, at any depth, holds boundary.
std::vector<DeepCase> deep_views() {
  return {
        // Next to a minibrot whose period is long (86, 252, 833): long orbits,
        // and a reference that passes through 0 (to far below double's range
        // at 1e-1000) once a period.
        DeepCase{"spike_p86_1e-100", spike(-100, "1e-100", 32, 18, 20000)},
        DeepCase{"spike_p252_1e-300", spike(-300, "1e-300", 16, 10, 20000)},
        DeepCase{"spike_p833_1e-1000", spike(-1000, "1e-1000", 12, 8, 30000)},
        DeepCase{"mandelbrot_i_1e-20", mandel("0", "1", "1e-20", 64, 48, 5000)},
        DeepCase{"mandelbrot_i_1e-50", mandel("0", "1", "1e-50", 64, 48, 5000)},
        DeepCase{"mandelbrot_i_1e-100", mandel("0.0", "1.0", "1e-100", 48, 36, 5000)},
        DeepCase{"mandelbrot_i_1e-300", mandel("0", "1", "1.0e-300", 32, 24, 10000)},
        DeepCase{"mandelbrot_i_1e-1000", mandel("0", "1", "1e-1000", 24, 18, 20000)},
        DeepCase{"mandelbrot_i_1e-4100", mandel("0", "1", "3e-4100", 8, 6, 50000)},
        // The view's centre escapes early: samples outlive its reference and
        // are rendered again against a longer one.
        DeepCase{"mandelbrot_off_centre_1e-30",
                 mandel("3.1e-30", "1.0000000000000000000000000000012", "8e-30", 48, 36, 5000)},
        // Seahorse valley: long, chaotic orbits (double itself drifts here at this spacing).
        DeepCase{"seahorse_3e-13", mandel("-0.7436438870371587", "0.1318259042053119", "3e-13", 48, 32, 6000)},
        DeepCase{"julia_dendrite_1e-60",
                 json{{"fractal", "julia"}, {"julia_c", {"0", "1"}}, {"center", {"0", "1"}}, {"scale", "1e-60"},
                      {"width", 48}, {"height", 36}, {"max_iter", 5000}}}};
}

std::string deep_case_name(const ::testing::TestParamInfo<DeepCase>& info) {
  std::string name = info.param.name;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Views, DeepAgainstMpfr, ::testing::ValuesIn(deep_views()), deep_case_name);
INSTANTIATE_TEST_SUITE_P(Views, DeepCudaAgainstMpfr, ::testing::ValuesIn(deep_views()), deep_case_name);

TEST(DeepSpec, AutoPicksDeepBelowDoubleAndKeepsTheText) {
  const TaskSpec shallow = spec_of(mandel("0", "1", "1e-9", 1920, 1080, 100));
  EXPECT_EQ(precision_used(shallow), Scalar::f64);
  const TaskSpec deep = spec_of(mandel("0", "1", "1e-12", 1920, 1080, 100));
  EXPECT_EQ(precision_used(deep), Scalar::deep);
  const TaskSpec tiny = spec_of(mandel("-1.7490484999999999999999999999999999999999999999999999999", "0", "1.5e-1200", 64, 64, 100));
  EXPECT_EQ(precision_used(tiny), Scalar::deep);
  EXPECT_EQ(tiny.scale.value, 0.0);
  EXPECT_NEAR(tiny.scale.log2_abs, std::log2(1.5) - 1200 * std::log2(10.0), 1e-6);
  EXPECT_EQ(to_json(tiny)["scale"], "1.5e-1200");
  EXPECT_EQ(to_json(tiny)["center"][0], "-1.7490484999999999999999999999999999999999999999999999999");
  json explicit_deep = mandel("-0.5", "0", "3", 64, 64, 100);
  explicit_deep["precision"] = "deep";
  EXPECT_EQ(precision_used(spec_of(explicit_deep)), Scalar::deep);
}

TEST(DeepSpec, BadDeepInputNamesTheField) {
  auto error_of = [](const json& body) {
    ParseResult r = parse_task_spec(body);
    EXPECT_FALSE(r.ok());
    return r.ok() ? FieldError{} : *r.error;
  };
  const std::string digits(10'001, '3');
  FieldError e = error_of(mandel(("0." + digits).c_str(), "0", "1e-20", 8, 8, 10));
  EXPECT_EQ(e.field, "center");
  EXPECT_EQ(e.http_status, 400);
  e = error_of(mandel("0", "0", "1e-", 8, 8, 10));
  EXPECT_EQ(e.field, "scale");
  e = error_of(mandel("0", "0", "1e--5", 8, 8, 10));
  EXPECT_EQ(e.field, "scale");
  e = error_of(mandel("0", "0", "0", 8, 8, 10));
  EXPECT_EQ(e.field, "scale");
  e = error_of(mandel("0", "0", "0e-5000", 8, 8, 10));
  EXPECT_EQ(e.field, "scale");
  e = error_of(mandel("0", "0", "-1e-50", 8, 8, 10));
  EXPECT_EQ(e.field, "scale");
  e = error_of(mandel("0", "0", "1e-10001", 8, 8, 10));
  EXPECT_EQ(e.code, "zoom_too_deep");
  EXPECT_EQ(e.field, "scale");
  EXPECT_EQ(e.http_status, 422);
  json too_deep_for_double = mandel("0", "1", "1e-20", 8, 8, 10);
  too_deep_for_double["precision"] = "double";
  e = error_of(too_deep_for_double);
  EXPECT_EQ(e.field, "precision");
  EXPECT_EQ(e.http_status, 400);
  // 10,000 significant digits and 1e-10000 itself are fine.
  EXPECT_TRUE(parse_task_spec(mandel(("0." + std::string(9'999, '7')).c_str(), "0", "1e-10000", 8, 8, 10)).ok());
}

TEST(DeepSpec, DoubleAndDeepAgreeJustAboveTheThreshold) {
  // Spacing 2^-42 around c = i: double still resolves it, so both paths are allowed.
  // (In chaotic places such as the seahorse valley at max_iter 3000 double itself
  // drifts from the exact counts at this spacing; the deep path follows MPFR.)
  const double scale = std::ldexp(64.0, -42);
  json body = mandel("0", "1", "1", 64, 64, 3000);
  body["scale"] = scale;
  body["precision"] = "double";
  const Rendered d = render_counts(body);
  body["precision"] = "deep";
  const Rendered p = render_counts(body);
  ASSERT_EQ(p.scalar, Scalar::deep);
  std::size_t equal = 0;
  for (std::size_t i = 0; i < d.counts.size(); ++i) equal += d.counts[i] == p.counts[i];
  EXPECT_GE(static_cast<double>(equal) / static_cast<double>(d.counts.size()), 0.999) << equal;
}

// The GPU runs the CPU runner's code (kernels/deep/sample_pass.h, compiled
// without FMA contraction): every count equal, not just 99 %.
TEST(DeepCuda, SameCountsAsTheCpuRunner) {
  std::string why;
  const std::shared_ptr<Renderer> cuda = renderer_for(BackendKind::cuda, &why);
  if (!cuda) GTEST_SKIP() << "no CUDA backend here, deep samples cannot run on a GPU: " << why;
  for (const json& body : {mandel("0", "1", "1e-300", 256, 144, 20000), mandel("0", "1", "1e-1000", 200, 120, 30000),
                           mandel("3.1e-30", "1.0000000000000000000000000000012", "8e-30", 160, 120, 5000),
                           mandel("-0.7436438870371587", "0.1318259042053119", "3e-13", 160, 100, 6000)}) {
    const Rendered cpu = render_counts(body);
    const Rendered gpu = render_counts(body, *cuda);
    std::size_t equal = 0;
    for (std::size_t i = 0; i < cpu.counts.size(); ++i) equal += cpu.counts[i] == gpu.counts[i];
    EXPECT_EQ(equal, cpu.counts.size()) << body.dump();
    EXPECT_EQ(gpu.stats.rebases, cpu.stats.rebases) << body.dump();
    EXPECT_EQ(gpu.stats.bla_skipped, cpu.stats.bla_skipped) << body.dump();
    EXPECT_EQ(gpu.stats.references, cpu.stats.references) << body.dump();
    EXPECT_EQ(gpu.stats.runner.rfind("cuda:", 0), 0u) << gpu.stats.runner;
    EXPECT_EQ(cpu.stats.runner, "cpu");
  }
}

// The CPU runner's four-lane loop (kernels/deep/sample_lanes.h) against the
// same runner one sample at a time (iterate_sample, the code the CUDA kernel
// runs): every count, |z|^2, rebase and BLA skip equal, on views where the
// lanes take most plain steps (c = i at 1e-100 and 1e-300), where phase 2
// hands dz back to phase 1 (the spikes), with re-references (off-centre),
// without BLA table levels worth probing (seahorse) and for Julia.
TEST(DeepLanes, SameResultsAsOneSampleAtATime) {
  std::vector<json> bodies = {mandel("0", "1", "1e-100", 160, 90, 20000), mandel("0", "1", "1e-300", 96, 54, 20000),
                              mandel("0", "1", "1e-1000", 48, 27, 20000), spike(-100, "1e-100", 64, 36, 20000),
                              spike(-300, "1e-300", 32, 18, 20000)};
  for (const DeepCase& c : deep_views()) bodies.push_back(c.body);
  for (const json& body : bodies) {
    const TaskSpec spec = spec_of(body);
    const std::size_t n = static_cast<std::size_t>(spec.width) * spec.height;
    struct Out {
      std::vector<std::uint32_t> counts;
      std::vector<float> mag2;
      deep::DeepStats stats;
    } lanes, one;
    for (auto [out, runner] : {std::pair{&lanes, &deep::cpu_sample_runner()},
                               std::pair{&one, &deep::cpu_sample_runner_one_by_one()}}) {
      out->counts.assign(n, 0);
      out->mag2.assign(n, 0);
      const deep::Band band{spec.width, spec.height, 0, spec.height, out->counts.data(), out->mag2.data(), nullptr, nullptr, nullptr};
      bool canceled = true;
      deep::render_band(spec, band, out->stats, canceled, runner);
      EXPECT_FALSE(canceled);
    }
    std::size_t equal = 0, mag2_equal = 0;
    for (std::size_t i = 0; i < n; ++i) {
      equal += lanes.counts[i] == one.counts[i];
      mag2_equal += std::memcmp(&lanes.mag2[i], &one.mag2[i], sizeof(float)) == 0;
    }
    EXPECT_EQ(equal, n) << body.dump();
    EXPECT_EQ(mag2_equal, n) << body.dump();
    EXPECT_EQ(lanes.stats.iterations, one.stats.iterations) << body.dump();
    EXPECT_EQ(lanes.stats.rebases, one.stats.rebases) << body.dump();
    EXPECT_EQ(lanes.stats.bla_skipped, one.stats.bla_skipped) << body.dump();
    EXPECT_EQ(lanes.stats.references, one.stats.references) << body.dump();
    EXPECT_EQ(lanes.stats.exhausted_left, one.stats.exhausted_left) << body.dump();
    EXPECT_GT(lanes.stats.iterations, 0u);
  }
}

// A backend whose deep samples run on its own runner (here one that counts
// its passes and hands them to the CPU runner), as the CUDA backend's do.
class CountingRunner final : public deep::SampleRunner {
 public:
  Result run(const deep::SamplePass& pass, const std::shared_ptr<const void>& tables, const deep::Band& band,
             bool count_progress) override {
    ++passes;
    if (tables.get() != last_tables) ++table_changes;
    last_tables = tables.get();
    held = tables;
    return deep::cpu_sample_runner().run(pass, tables, band, count_progress);
  }
  [[nodiscard]] std::string name() const override { return "counting"; }
  int passes = 0, table_changes = 0;
  const void* last_tables = nullptr;
  std::shared_ptr<const void> held;
};

class DeepRunnerBackend final : public Renderer {
 public:
  DeepRunnerBackend() : cpu_(make_renderer(BackendKind::cpu)) {}
  [[nodiscard]] std::string name() const override { return "test:" + cpu_->name(); }
  void render(std::span<RenderJob> jobs) override {
    for (const RenderJob& j : jobs) EXPECT_NE(j.scalar, Scalar::deep) << "deep jobs never reach render()";
    shallow_jobs += static_cast<int>(jobs.size());
    cpu_->render(jobs);
  }
  [[nodiscard]] deep::SampleRunner* deep_sample_runner() override { return &runner; }
  CountingRunner runner;
  int shallow_jobs = 0;

 private:
  std::unique_ptr<Renderer> cpu_;
};

TEST(DeepRouting, RenderTasksRunsDeepSamplesOnTheBackendsRunner) {
  json deep_body = mandel("0", "1", "1e-100", 48, 36, 5000);
  deep_body["output"] = "iterations";
  deep_body["format"] = "exr";
  json shallow_body = mandel("-0.5", "0", "3", 32, 24, 200);
  shallow_body["output"] = "iterations";
  shallow_body["format"] = "exr";
  const TaskSpec deep_spec = spec_of(deep_body), shallow_spec = spec_of(shallow_body);
  DeepRunnerBackend backend;
  TaskRun deep_run(deep_spec), shallow_run(shallow_spec);
  TaskRun* runs[] = {&deep_run, &shallow_run};
  // Bands of 8 rows: the view's bands share one orbit and one BLA table.
  render_tasks(backend, runs, RenderLimits{48 * 8});
  EXPECT_EQ(deep_run.scalar, Scalar::deep);
  EXPECT_GE(backend.runner.passes, 5);            // one per band
  EXPECT_EQ(backend.runner.table_changes, 1);     // uploaded once per view
  EXPECT_EQ(deep_run.deep.runner, "counting");
  EXPECT_GE(backend.shallow_jobs, 1);
  // Same counts as the CPU runner renders them.
  const Rendered want = render_counts(deep_body);
  for (int j = 0; j < deep_spec.height; ++j)
    for (int i = 0; i < deep_spec.width; ++i)
      ASSERT_EQ(static_cast<std::uint32_t>(deep_run.image.row<float>(j)[i]),
                want.counts[static_cast<std::size_t>(j) * deep_spec.width + i]);
  EXPECT_EQ(deep_run.samples_done.load(), static_cast<std::uint64_t>(deep_spec.width) * deep_spec.height);
}

TEST(DeepProgress, TheReferenceOrbitCountsAsActivity) {
  // Inside the main cardioid: the reference never escapes, so its orbit has
  // max_iter + 1 points; no other test uses this view, so the orbit is computed
  // here, not found in the process's cache.
  json body = mandel("-0.1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
                     "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
                     "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001",
                     "0", "1e-280", 4, 4, 5000);
  body["output"] = "iterations";
  body["format"] = "exr";
  const TaskSpec s = spec_of(body);
  auto cpu = make_renderer(BackendKind::cpu, {});
  TaskRun first(s);
  TaskRun* runs[] = {&first};
  render_tasks(*cpu, runs);
  ASSERT_EQ(first.scalar, Scalar::deep);
  EXPECT_EQ(first.deep.orbit_cache_hits, 0);
  // Counted in steps of 1024 while the orbit grows: 4 full steps of 5001 points.
  EXPECT_EQ(first.orbit_steps.load(), 4u * 1024u);
  EXPECT_EQ(first.activity(), 16u + 4u * 1024u);
  EXPECT_EQ(first.orbit_steps_planned.load(), 5000u);
  EXPECT_DOUBLE_EQ(first.progress(), 1.0);
  // The same view again: the orbit comes from the cache, no orbit work.
  TaskRun again(s);
  TaskRun* again_runs[] = {&again};
  render_tasks(*cpu, again_runs);
  EXPECT_GE(again.deep.orbit_cache_hits, 1);
  EXPECT_EQ(again.orbit_steps.load(), 0u);
  EXPECT_EQ(again.activity(), 16u);
  EXPECT_DOUBLE_EQ(again.progress(), 1.0);
}

TEST(DeepProgress, TheOrbitIsTheFirstTenthAndProgressNeverGoesBack) {
  const TaskSpec s = spec_of(mandel("0", "1", "1e-100", 4, 4, 100'000));
  TaskRun run(s);
  EXPECT_EQ(run.progress(), 0.0);
  run.samples_total = 16;
  run.orbit_steps_planned = 100'000;
  run.orbit_steps = 50'000;  // half the orbit, no sample yet
  EXPECT_DOUBLE_EQ(run.progress(), 0.05);
  run.orbit_steps = 200'000;  // re-references: never past the orbit's share
  EXPECT_DOUBLE_EQ(run.progress(), 0.1);
  run.orbit_steps = 1'024;    // an orbit that escaped early: the samples take over
  run.samples_done = 8;
  EXPECT_DOUBLE_EQ(run.progress(), 0.55);
  run.samples_done = 16;
  EXPECT_DOUBLE_EQ(run.progress(), 1.0);
  TaskRun shallow(s);  // no orbit planned: samples only
  shallow.samples_total = 16;
  shallow.samples_done = 4;
  EXPECT_DOUBLE_EQ(shallow.progress(), 0.25);
}

}  // namespace
}  // namespace fractal
