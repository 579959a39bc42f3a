// fractal-bench-deep: deep zoom (precision "deep") at several depths, on the
// CPU and, when a CUDA device is present, on the GPU, against the shallow
// double kernel on workload B in the same run.
//
//   fractal-bench-deep [--width 1920] [--height 1080] [--max-iter 100000] [--backend all|cpu|cuda]
//
// Location: c = i, a Misiurewicz point of the Mandelbrot set (its orbit 0, i,
// -1+i, -i, -1+i, ... never escapes), so every depth shows boundary; scales
// 1e-100, 1e-300 and 1e-1000. For each: wall seconds of render_tasks (counts
// only, output "iterations": no colouring), seconds in the MPFR reference
// orbit, BLA skip ratio, and the effective rate = the sum of the per-pixel
// counts (the reference semantics) / wall time. The double kernel's rate on
// workload B (region [-2, 0.5] x [-1.25, 1.25], 2048 x 2048, max_iter 1000)
// is measured in the same run and the ratio printed (target >= 1 on the CPU).
//
// CUDA rows (the samples on the GPU; orbit and BLA on the host as on the CPU)
// come after the CPU rows of the same view and print their ratio to them
// (target >= 10x). The reference orbit is cached per process, so a CUDA row
// finds the CPU row's orbit (orbit 0 s, cache hit): compare the wall ratio
// and the per-sample ratio (iterations / time outside the orbit) both. With
// --backend cuda alone, the CUDA rows compute their own orbits.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "kernels/render_task.h"
#include "kernels/renderer.h"
#include "kernels/task_spec.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Timed {
  double seconds = 0;
  std::uint64_t iterations = 0;
  fractal::deep::DeepStats deep;
};

Timed run(fractal::Renderer& r, const json& body) {
  const fractal::ParseResult p = fractal::parse_task_spec(body);
  if (!p.ok()) {
    std::fprintf(stderr, "bad spec: %s\n", p.error->message.c_str());
    std::exit(2);
  }
  fractal::TaskRun task(*p.spec);
  fractal::TaskRun* tasks[] = {&task};
  const auto t0 = Clock::now();
  fractal::render_tasks(r, tasks);
  Timed t;
  t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t.iterations = task.iterations;
  t.deep = task.deep;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int width = 1920, height = 1080, max_iter = 100000;
  std::string backends = "all";
  for (int i = 1; i < argc; ++i) {
    auto value = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (!std::strcmp(argv[i], "--width")) width = value();
    else if (!std::strcmp(argv[i], "--height")) height = value();
    else if (!std::strcmp(argv[i], "--max-iter")) max_iter = value();
    else if (!std::strcmp(argv[i], "--backend") && i + 1 < argc) backends = argv[++i];
    else {
      std::fprintf(stderr, "usage: fractal-bench-deep [--width W] [--height H] [--max-iter N] [--backend all|cpu|cuda]\n");
      return 2;
    }
  }
  const bool want_cpu = backends == "all" || backends == "cpu";
  const bool want_cuda = backends == "all" || backends == "cuda";
  if (!want_cpu && !want_cuda) {
    std::fprintf(stderr, "--backend: all, cpu or cuda\n");
    return 2;
  }
  std::unique_ptr<fractal::Renderer> cpu, cuda;
  if (want_cpu) {
    cpu = fractal::make_renderer(fractal::BackendKind::cpu);
    std::printf("backend %s\n", cpu->name().c_str());
  }
  if (want_cuda) {
    try {
      cuda = fractal::make_renderer(fractal::BackendKind::cuda);
      std::printf("backend %s\n", cuda->name().c_str());
    } catch (const fractal::BackendUnavailable& e) {
      std::printf("no CUDA rows: %s\n", e.what());
      if (!want_cpu) return 1;
    }
  }

  const json workload_b = {{"width", 2048}, {"height", 2048}, {"center", {-0.75, 0}}, {"scale", 2.5},
                           {"max_iter", 1000}, {"precision", "double"}, {"output", "iterations"}, {"format", "exr"}};
  double shallow_rate = 0;
  if (cpu) {
    run(*cpu, workload_b);  // warm-up
    const Timed shallow = run(*cpu, workload_b);
    shallow_rate = static_cast<double>(shallow.iterations) / shallow.seconds;
    std::printf("shallow double (CPU), workload B 2048x2048 max_iter 1000: %.3f s, %.3g iter/s\n", shallow.seconds,
                shallow_rate);
  }
  if (cuda) {
    // Context, allocations and the deep kernel's first launch, on another view (its own orbit).
    run(*cuda, {{"width", 256}, {"height", 256}, {"center", {"0", "1"}}, {"scale", "1e-60"}, {"max_iter", 2000},
                {"output", "iterations"}, {"format", "exr"}});
  }

  auto row = [&](const char* backend, const char* scale, const Timed& t) {
    const double rate = static_cast<double>(t.iterations) / t.seconds;
    const double skip = t.deep.iterations ? static_cast<double>(t.deep.bla_skipped) / t.deep.iterations : 0;
    std::printf("deep %-4s c=i scale %-7s %dx%d max_iter %d: %.3f s (orbit %.3f s, cache hits %d, length %d, "
                "references %d, samples %.3f s), iterations %.4g, BLA skip %.1f %%, rebases %llu, effective %.3g iter/s",
                backend, scale, width, height, max_iter, t.seconds, t.deep.orbit_seconds, t.deep.orbit_cache_hits,
                t.deep.reference_length, t.deep.references, t.deep.pixel_seconds, static_cast<double>(t.iterations),
                100 * skip, static_cast<unsigned long long>(t.deep.rebases), rate);
    return rate;
  };
  for (const char* scale : {"1e-100", "1e-300", "1e-1000"}) {
    const json body = {{"width", width},       {"height", height},       {"center", {"0", "1"}},
                       {"scale", scale},       {"max_iter", max_iter},   {"output", "iterations"},
                       {"format", "exr"}};
    Timed on_cpu;
    double cpu_rate = 0;
    if (cpu) {
      on_cpu = run(*cpu, body);
      cpu_rate = row("cpu", scale, on_cpu);
      std::printf(" = %.2fx shallow double (target >= 1)\n", cpu_rate / shallow_rate);
    }
    if (cuda) {
      const Timed t = run(*cuda, body);
      const double rate = row("cuda", scale, t);
      if (cpu) {
        const double cpu_sample_rate = static_cast<double>(on_cpu.iterations) / on_cpu.deep.pixel_seconds;
        const double cuda_sample_rate = static_cast<double>(t.iterations) / t.deep.pixel_seconds;
        std::printf(" = %.1fx the CPU row (target >= 10), per-sample work %.1fx; counts %s the CPU's in total\n",
                    rate / cpu_rate, cuda_sample_rate / cpu_sample_rate,
                    t.iterations == on_cpu.iterations ? "equal" : "DIFFERENT from");
      } else {
        std::printf("\n");
      }
    }
  }
  return 0;
}
