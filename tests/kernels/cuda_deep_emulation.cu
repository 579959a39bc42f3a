// Runs the CUDA deep kernel's scheduling (render_deep_samples, kernels/cuda/
// deep_tiles.cuh) on the host under emulated warps, inside the real deep
// renderer: render_band with a SampleRunner that does what CudaSampleRunner
// does (the pass with its tables, one persistent "launch" of warps taking
// chunks from one queue, deliver_pass) with host memory standing in for the
// device. Every view must give the CPU runner's counts and |z|^2 bit for bit
// and the same statistics (rebases, BLA skips, references, exhausted): the
// device code is the CPU's code, and only the scheduling differs.
//
// What it cannot show: the device's rounding. deep_kernel.cu is compiled with
// -fmad=false so that the device rounds each operation as the host does; a GPU
// run of test_kernels (DeepCuda*) checks that on a device.
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/cuda/deep_tiles.cuh"
#include "kernels/deep/deep_render.h"
#include "kernels/task_spec.h"
#include "tests/kernels/host_warp.h"

using namespace fractal;
using nlohmann::json;

namespace {

class EmulatedRunner final : public deep::SampleRunner {
 public:
  EmulatedRunner(int warps, bool cancel_in_kernel) : warps_(warps), cancel_in_kernel_(cancel_in_kernel) {}

  Result run(const deep::SamplePass& pass, const std::shared_ptr<const void>& tables, const deep::Band& band,
             bool count_progress) override {
    Result result;
    ++passes;
    if (tables.get() != last_tables_) ++uploads;  // what CudaSampleRunner would upload
    last_tables_ = tables.get();
    std::vector<deep::PixelResult> out(pass.count);
    unsigned counters[2] = {0, 0};
    int cancel = cancel_in_kernel_ ? 1 : 0;
    cuda::DeepLaunchArgs a{};
    a.pass = pass;
    a.counter = &counters[0];
    a.chunks_done = &counters[1];
    a.cancel = &cancel;
    a.out = out.data();
    std::vector<WarpShared> shared(static_cast<std::size_t>(warps_));
    std::vector<std::thread> threads;
    for (int w = 0; w < warps_; ++w)
      for (unsigned l = 0; l < 32; ++l)
        threads.emplace_back([&, w, l] {
          HostWarp hw{&shared[static_cast<std::size_t>(w)], l};
          cuda::render_deep_samples(a, hw);
        });
    for (auto& t : threads) t.join();
    const unsigned chunks = static_cast<unsigned>((pass.count + 31) / 32);
    if (cancel_in_kernel_) {
      if (counters[0] != 0 || counters[1] != 0) throw std::runtime_error("a canceled pass took chunks");
      result.canceled = true;
      return result;
    }
    // Every chunk taken once, each warp's last fetch found the queue empty.
    if (counters[1] != chunks || counters[0] != chunks + static_cast<unsigned>(warps_))
      throw std::runtime_error("queue: " + std::to_string(counters[0]) + " fetches, " + std::to_string(counters[1]) +
                               " chunks done, " + std::to_string(chunks) + " chunks");
    deep::deliver_pass(pass, out.data(), band, result);
    if (count_progress && band.progress) band.progress->fetch_add(pass.count);
    return result;
  }
  [[nodiscard]] std::string name() const override { return "emulated-cuda"; }

  int passes = 0, uploads = 0;

 private:
  int warps_;
  bool cancel_in_kernel_;
  const void* last_tables_ = nullptr;
};

struct Rendered {
  std::vector<std::uint32_t> counts;
  std::vector<float> mag2;
  deep::DeepStats stats;
  bool canceled = false;
  std::uint64_t progress = 0;
};

Rendered render(const TaskSpec& spec, deep::SampleRunner* runner, int row0, int rows) {
  Rendered r;
  r.counts.assign(static_cast<std::size_t>(rows) * spec.width, 0xdeadbeef);
  r.mag2.assign(r.counts.size(), -1.0f);
  std::atomic<bool> cancel{false};
  std::atomic<std::uint64_t> progress{0};
  deep::Band band{spec.width, spec.height, row0, rows, r.counts.data(), r.mag2.data(), &cancel, &progress, nullptr};
  deep::render_band(spec, band, r.stats, r.canceled, runner);
  r.progress = progress.load();
  return r;
}

int check_view(const char* name, const json& body, int warps) {
  ParseResult p = parse_task_spec(body);
  if (!p.ok()) throw std::runtime_error(p.error->message);
  const TaskSpec& spec = *p.spec;
  int fails = 0;
  // The whole grid as one band, then the lower half as a band of its own (row0 > 0).
  for (const auto [row0, rows] : {std::pair{0, spec.height}, std::pair{spec.height / 2, spec.height - spec.height / 2}}) {
    EmulatedRunner emulated(warps, false);
    const Rendered want = render(spec, nullptr, row0, rows);
    const Rendered got = render(spec, &emulated, row0, rows);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < want.counts.size(); ++i) {
      const bool same = got.counts[i] == want.counts[i] && std::memcmp(&got.mag2[i], &want.mag2[i], sizeof(float)) == 0;
      if (!same && bad++ < 5)
        std::printf("  sample %zu: got %u/%g want %u/%g\n", i, got.counts[i], got.mag2[i], want.counts[i], want.mag2[i]);
    }
    const bool stats_same = got.stats.rebases == want.stats.rebases && got.stats.bla_skipped == want.stats.bla_skipped &&
                            got.stats.references == want.stats.references &&
                            got.stats.exhausted_left == want.stats.exhausted_left &&
                            got.stats.iterations == want.stats.iterations && got.progress == want.progress &&
                            got.progress == want.counts.size() && !got.canceled;
    const bool ok = bad == 0 && stats_same;
    std::printf("%-32s rows %3d..%3d warps %d: %zu samples, %zu differ, rebases %llu/%llu, BLA skipped %llu/%llu, "
                "references %d/%d, passes %d, uploads %d %s\n",
                name, row0, row0 + rows, warps, want.counts.size(), bad,
                static_cast<unsigned long long>(got.stats.rebases), static_cast<unsigned long long>(want.stats.rebases),
                static_cast<unsigned long long>(got.stats.bla_skipped),
                static_cast<unsigned long long>(want.stats.bla_skipped), got.stats.references, want.stats.references,
                emulated.passes, emulated.uploads, ok ? "ok" : "FAILED");
    fails += !ok;
  }
  // Canceled inside the kernel: no chunk taken, the band reported canceled.
  EmulatedRunner canceling(warps, true);
  const Rendered c = render(spec, &canceling, 0, spec.height);
  if (!c.canceled) {
    std::printf("%-32s cancel: not reported FAILED\n", name);
    ++fails;
  }
  return fails;
}

json mandel(const char* re, const char* im, const char* scale, int w, int h, int max_iter) {
  return {{"center", {re, im}}, {"scale", scale}, {"width", w}, {"height", h}, {"max_iter", max_iter}};
}

}  // namespace

int main() {
  int fails = 0;
  try {
    // The views of tests/kernels/test_deep.cpp (where the CPU runner is checked against MPFR).
    fails += check_view("mandelbrot_i_1e-20", mandel("0", "1", "1e-20", 64, 48, 5000), 2);
    fails += check_view("mandelbrot_i_1e-100", mandel("0.0", "1.0", "1e-100", 48, 36, 5000), 3);
    fails += check_view("mandelbrot_i_1e-300", mandel("0", "1", "1.0e-300", 32, 24, 10000), 1);
    fails += check_view("mandelbrot_i_1e-1000", mandel("0", "1", "1e-1000", 24, 18, 20000), 2);
    // Re-reference passes (a sample list, not the whole band).
    fails += check_view("mandelbrot_off_centre_1e-30",
                        mandel("3.1e-30", "1.0000000000000000000000000000012", "8e-30", 48, 36, 5000), 2);
    // Rebasing-heavy, all in the double phase.
    fails += check_view("seahorse_3e-13", mandel("-0.7436438870371587", "0.1318259042053119", "3e-13", 40, 24, 6000), 4);
    fails += check_view("julia_dendrite_1e-60",
                        json{{"fractal", "julia"}, {"julia_c", {"0", "1"}}, {"center", {"0", "1"}}, {"scale", "1e-60"},
                             {"width", 48}, {"height", 36}, {"max_iter", 5000}},
                        2);
    // A width that is not a multiple of 32: the last chunk of the band is partial.
    fails += check_view("mandelbrot_i_1e-50_w37", mandel("0", "1", "1e-50", 37, 11, 5000), 2);
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
  std::printf(fails ? "FAILED\n" : "ALL OK\n");
  return fails;
}
