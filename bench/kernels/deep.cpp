// fractal-bench-deep: deep zoom (precision "deep") at several depths, on the
// CPU and, when a CUDA device is present, on the GPU, against the shallow
// double kernel on workload B in the same run.
//
//   fractal-bench-deep [--width 1920] [--height 1080] [--max-iter 100000] [--backend all|cpu|cuda]
//                      [--location all|i|spike] [--scales 1e-100,1e-300,1e-1000] [--no-shallow]
//
// Two locations, each at scales 1e-100, 1e-300 and 1e-1000:
// - "i": c = i, a Misiurewicz point of the Mandelbrot set (its orbit 0, i,
//   -1+i, -i, -1+i, ... never escapes), so every depth shows boundary. Its
//   pixels escape early (counts ~270 at 1e-100 to ~2,700 at 1e-1000): a
//   worst case for deep zoom, where BLA has little to skip.
// - "spike": next to a minibrot, where deep zooms usually end: the nucleus of
//   the period-p minibrot on the real axis nearest the tip c = -2 (the
//   "mini-MS near the tip of the main antenna" of Fractint-era deep zooms),
//   with p the smallest period whose minibrot (size estimate) is below 1/16 of
//   the view, so the view shows it and its surroundings. The nucleus is a
//   root of z_p(c) = 0 (z_0 = 0, z_{n+1} = z_n^2 + c), found here by Newton's
//   method in MPFR from the asymptotic c ~ -2 + 1.5 pi^2 4^-p; it needs no
//   external coordinates. Counts are long (periods 86, 252, 833).
// For each: wall seconds of render_tasks (counts only, output "iterations":
// no colouring), seconds in the MPFR reference orbit, BLA skip ratio, the
// share of pixels at max_iter, and the effective rate = the sum of the
// per-pixel counts (the reference semantics) / wall time. The double kernel's
// rate on workload B (region [-2, 0.5] x [-1.25, 1.25], 2048 x 2048, max_iter
// 1000) is measured in the same run and the ratio printed (target >= 1 on the CPU;
// --no-shallow leaves it out, for timing the deep rows alone).
//
// CUDA rows (the samples on the GPU; orbit and BLA on the host as on the CPU)
// come after the CPU rows of the same view and print their ratio to them
// (target >= 10x). The reference orbit is cached per process, so a CUDA row
// finds the CPU row's orbit (orbit 0 s, cache hit): compare the wall ratio
// and the per-sample ratio (iterations / time outside the orbit) both. With
// --backend cuda alone, the CUDA rows compute their own orbits.
#include <mpfr.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/kernels/minibrot_spike.h"
#include "kernels/render_task.h"
#include "kernels/renderer.h"
#include "kernels/task_spec.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Timed {
  double seconds = 0;
  std::uint64_t iterations = 0;
  double at_max_iter = 0;  // share of pixels whose count is max_iter
  fractal::deep::DeepStats deep;
};

// log10 of a decimal string such as "1e-1000" (beyond double's range).
double log10_of(const std::string& text) {
  const std::size_t e = text.find_first_of("eE");
  const double m = std::stod(text.substr(0, e));
  return std::log10(m) + (e == std::string::npos ? 0 : std::stoi(text.substr(e + 1)));
}

struct Location {
  std::string name;  // as printed in the rows
  std::string re, im;
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
  // Output "iterations": one f32 channel of counts.
  std::size_t at_max = 0, pixels = 0;
  if (task.image.type == fractal::PixelType::f32 && task.image.channels == 1) {
    for (int y = 0; y < task.image.height; ++y) {
      const float* row = task.image.row<float>(y);
      for (int x = 0; x < task.image.width; ++x) at_max += row[x] >= static_cast<float>(p.spec->max_iter) ? 1 : 0;
      pixels += static_cast<std::size_t>(task.image.width);
    }
  }
  t.at_max_iter = pixels ? static_cast<double>(at_max) / static_cast<double>(pixels) : 0;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int width = 1920, height = 1080, max_iter = 100000;
  std::string backends = "all", locations = "all", scales_arg = "1e-100,1e-300,1e-1000";
  bool shallow_row = true;
  for (int i = 1; i < argc; ++i) {
    auto value = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (!std::strcmp(argv[i], "--width")) width = value();
    else if (!std::strcmp(argv[i], "--height")) height = value();
    else if (!std::strcmp(argv[i], "--max-iter")) max_iter = value();
    else if (!std::strcmp(argv[i], "--backend") && i + 1 < argc) backends = argv[++i];
    else if (!std::strcmp(argv[i], "--location") && i + 1 < argc) locations = argv[++i];
    else if (!std::strcmp(argv[i], "--scales") && i + 1 < argc) scales_arg = argv[++i];
    else if (!std::strcmp(argv[i], "--no-shallow")) shallow_row = false;
    else {
      std::fprintf(stderr, "usage: fractal-bench-deep [--width W] [--height H] [--max-iter N] [--backend all|cpu|cuda]"
                           " [--location all|i|spike] [--scales 1e-100,1e-300,...] [--no-shallow]\n");
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
  if (cpu && shallow_row) {
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

  auto row = [&](const char* backend, const std::string& where, const std::string& scale, const Timed& t) {
    const double rate = static_cast<double>(t.iterations) / t.seconds;
    const double skip = t.deep.iterations ? static_cast<double>(t.deep.bla_skipped) / t.deep.iterations : 0;
    std::printf("deep %-4s %s scale %-7s %dx%d max_iter %d: %.3f s (orbit %.3f s, cache hits %d, length %d, "
                "references %d, samples %.3f s), iterations %.4g (%.0f per pixel, %.1f %% at max_iter), BLA skip %.1f %%, "
                "rebases %llu, effective %.3g iter/s",
                backend, where.c_str(), scale.c_str(), width, height, max_iter, t.seconds, t.deep.orbit_seconds,
                t.deep.orbit_cache_hits, t.deep.reference_length, t.deep.references, t.deep.pixel_seconds,
                static_cast<double>(t.iterations), static_cast<double>(t.iterations) / (static_cast<double>(width) * height),
                100 * t.at_max_iter, 100 * skip, static_cast<unsigned long long>(t.deep.rebases), rate);
    return rate;
  };
  std::vector<std::string> scales;
  for (std::size_t at = 0; at <= scales_arg.size();) {
    const std::size_t comma = std::min(scales_arg.find(',', at), scales_arg.size());
    if (comma > at) scales.push_back(scales_arg.substr(at, comma - at));
    at = comma + 1;
  }
  for (const char* where : {"i", "spike"}) {
    if (locations != "all" && locations != where) continue;
    for (const std::string& scale : scales) {
      Location loc{"c=i", "0", "1"};
      if (std::string(where) == "spike") {
        const auto t0 = Clock::now();
        const fractal::bench::SpikeLocation spike = fractal::bench::spike_location(log10_of(scale), width);
        loc = Location{"spike p=" + std::to_string(spike.period), spike.re, "0"};
        std::printf("location %s at scale %s: c = %.40s... + 0i (%zu digits, found in %.2f s)\n", loc.name.c_str(),
                    scale.c_str(), loc.re.c_str(), loc.re.size(),
                    std::chrono::duration<double>(Clock::now() - t0).count());
      }
      const json body = {{"width", width},       {"height", height},     {"center", {loc.re, loc.im}},
                         {"scale", scale},       {"max_iter", max_iter}, {"output", "iterations"},
                         {"format", "exr"}};
      Timed on_cpu;
      double cpu_rate = 0;
      if (cpu) {
        on_cpu = run(*cpu, body);
        cpu_rate = row("cpu", loc.name, scale, on_cpu);
        if (shallow_rate > 0) std::printf(" = %.2fx shallow double (target >= 1)\n", cpu_rate / shallow_rate);
        else std::printf("\n");
      }
      if (cuda) {
        const Timed t = run(*cuda, body);
        const double rate = row("cuda", loc.name, scale, t);
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
  }
  return 0;
}
