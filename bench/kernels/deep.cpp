// fractal-bench-deep: deep zoom (precision "deep") on the CPU at several
// depths, against the shallow double kernel on workload B in the same run.
//
//   fractal-bench-deep [--width 1920] [--height 1080] [--max-iter 100000] [--repeat 1]
//
// Location: c = i, a Misiurewicz point of the Mandelbrot set (its orbit 0, i,
// -1+i, -i, -1+i, ... never escapes), so every depth shows boundary; scales
// 1e-100, 1e-300 and 1e-1000. For each: wall seconds of render_tasks (counts
// only, output "iterations": no colouring), seconds in the MPFR reference
// orbit, BLA skip ratio, and the effective rate = the sum of the per-pixel
// counts (the reference semantics) / wall time. The double kernel's rate on
// workload B (region [-2, 0.5] x [-1.25, 1.25], 2048 x 2048, max_iter 1000)
// is measured in the same run and the ratio printed (target >= 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
  for (int i = 1; i < argc; ++i) {
    auto value = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (!std::strcmp(argv[i], "--width")) width = value();
    else if (!std::strcmp(argv[i], "--height")) height = value();
    else if (!std::strcmp(argv[i], "--max-iter")) max_iter = value();
    else {
      std::fprintf(stderr, "usage: fractal-bench-deep [--width W] [--height H] [--max-iter N]\n");
      return 2;
    }
  }
  auto renderer = fractal::make_renderer(fractal::BackendKind::cpu);
  std::printf("backend %s\n", renderer->name().c_str());

  const json workload_b = {{"width", 2048}, {"height", 2048}, {"center", {-0.75, 0}}, {"scale", 2.5},
                           {"max_iter", 1000}, {"precision", "double"}, {"output", "iterations"}, {"format", "exr"}};
  run(*renderer, workload_b);  // warm-up
  const Timed shallow = run(*renderer, workload_b);
  const double shallow_rate = static_cast<double>(shallow.iterations) / shallow.seconds;
  std::printf("shallow double, workload B 2048x2048 max_iter 1000: %.3f s, %.3g iter/s\n", shallow.seconds,
              shallow_rate);

  for (const char* scale : {"1e-100", "1e-300", "1e-1000"}) {
    const json body = {{"width", width},       {"height", height},       {"center", {"0", "1"}},
                       {"scale", scale},       {"max_iter", max_iter},   {"output", "iterations"},
                       {"format", "exr"}};
    const Timed t = run(*renderer, body);
    const double rate = static_cast<double>(t.iterations) / t.seconds;
    const double skip = t.deep.iterations ? static_cast<double>(t.deep.bla_skipped) / t.deep.iterations : 0;
    std::printf("deep c=i scale %-7s %dx%d max_iter %d: %.3f s (orbit %.3f s, length %d, references %d), "
                "iterations %.4g, BLA skip %.1f %%, rebases %llu, effective %.3g iter/s = %.2fx shallow double "
                "(target >= 1)\n",
                scale, width, height, max_iter, t.seconds, t.deep.orbit_seconds, t.deep.reference_length,
                t.deep.references, static_cast<double>(t.iterations), 100 * skip,
                static_cast<unsigned long long>(t.deep.rebases), rate, rate / shallow_rate);
  }
  return 0;
}
