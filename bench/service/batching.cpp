// fractal-bench-batching: what batching many small tasks into one
// Renderer::render call buys, per backend, with no Postgres, Redis or image
// encoding (it builds in the core-only configuration, for bare CUDA machines).
//
//   fractal-bench-batching [--backend all|cpu|cuda] [--tasks 1000] [--size 256]
//                          [--max-iter 256] [--batch 32] [--repeat 5] [--precision double|float]
//
// For each backend: N tasks (size x size, distinct views along the boundary of
// the Mandelbrot set, so their costs differ as real tasks' do) rendered
//   per-task:  one render() call per task (what a worker at --batch 1 does)
//   batched:   one render() call per --batch tasks
//   all:       one render() call for all N tasks
// Prints the median wall time of --repeat runs, tasks/s, iterations/s and the
// ratio batched/per-task and all/per-task. Every mode computes the same counts
// (checked: the total iterations must agree).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/renderer.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string backend = "all";
  int tasks = 1000, size = 256, max_iter = 256, batch = 32, repeat = 5;
  fractal::Scalar scalar = fractal::Scalar::f64;
};

int usage(const char* why) {
  std::fprintf(stderr, "fractal-bench-batching: %s\nusage: fractal-bench-batching [--backend all|cpu|cuda] "
                       "[--tasks N] [--size PX] [--max-iter N] [--batch N] [--repeat N] [--precision double|float]\n", why);
  return 2;
}

struct Tasks {
  std::vector<fractal::RenderJob> jobs;
  std::vector<std::uint32_t> counts;
};

Tasks make_tasks(const Options& o) {
  Tasks t;
  const std::size_t samples = static_cast<std::size_t>(o.size) * o.size;
  t.counts.resize(samples * o.tasks);
  t.jobs.resize(o.tasks);
  for (int i = 0; i < o.tasks; ++i) {
    fractal::RenderJob& j = t.jobs[i];
    // Views on the cardioid's boundary: a mix of inside (max_iter) and escaping samples.
    const double a = 2.0 * M_PI * i / o.tasks;
    j.center_re = 0.5 * std::cos(a) - 0.25 * std::cos(2 * a);
    j.center_im = 0.5 * std::sin(a) - 0.25 * std::sin(2 * a);
    j.scale = 0.05;
    j.grid_width = j.grid_height = j.rows = o.size;
    j.max_iter = o.max_iter;
    j.scalar = o.scalar;
    j.counts = t.counts.data() + samples * i;
  }
  return t;
}

// Renders all tasks in calls of `per_call` jobs; returns seconds and the iterations.
std::pair<double, std::uint64_t> run(fractal::Renderer& r, Tasks& t, int per_call) {
  for (auto& j : t.jobs) j.iterations = 0;
  const auto t0 = Clock::now();
  for (std::size_t first = 0; first < t.jobs.size(); first += per_call) {
    const std::size_t n = std::min<std::size_t>(per_call, t.jobs.size() - first);
    r.render(std::span<fractal::RenderJob>(t.jobs.data() + first, n));
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::uint64_t it = 0;
  for (const auto& j : t.jobs) it += j.iterations;
  return {s, it};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto int_arg = [&](int& out) {
      const char* v = next();
      if (!v || std::atoi(v) <= 0) return false;
      out = std::atoi(v);
      return true;
    };
    if (a == "--backend") {
      const char* v = next();
      if (!v) return usage("--backend needs a value");
      o.backend = v;
    } else if (a == "--precision") {
      const char* v = next();
      if (!v || (std::strcmp(v, "double") != 0 && std::strcmp(v, "float") != 0))
        return usage("--precision: double or float");
      o.scalar = std::strcmp(v, "float") == 0 ? fractal::Scalar::f32 : fractal::Scalar::f64;
    } else if (a == "--tasks") { if (!int_arg(o.tasks)) return usage("--tasks: a positive integer");
    } else if (a == "--size") { if (!int_arg(o.size)) return usage("--size: a positive integer");
    } else if (a == "--max-iter") { if (!int_arg(o.max_iter)) return usage("--max-iter: a positive integer");
    } else if (a == "--batch") { if (!int_arg(o.batch)) return usage("--batch: a positive integer");
    } else if (a == "--repeat") { if (!int_arg(o.repeat)) return usage("--repeat: a positive integer");
    } else {
      return usage(("unknown option " + a).c_str());
    }
  }
  std::vector<fractal::BackendKind> kinds;
  if (o.backend == "all" || o.backend == "cpu") kinds.push_back(fractal::BackendKind::cpu);
  if (o.backend == "all" || o.backend == "cuda") kinds.push_back(fractal::BackendKind::cuda);
  if (kinds.empty()) return usage("--backend: all, cpu or cuda");

  std::printf("tasks=%d size=%dx%d max_iter=%d batch=%d repeat=%d precision=%s\n", o.tasks, o.size, o.size, o.max_iter,
              o.batch, o.repeat, o.scalar == fractal::Scalar::f32 ? "float" : "double");
  int rc = 0;
  for (auto kind : kinds) {
    std::unique_ptr<fractal::Renderer> r;
    try {
      r = fractal::make_renderer(kind);
    } catch (const fractal::BackendUnavailable& e) {
      std::printf("backend %s: unavailable (%s)\n", kind == fractal::BackendKind::cuda ? "cuda" : "cpu", e.what());
      continue;
    }
    Tasks t = make_tasks(o);
    run(*r, t, o.tasks);  // warm-up: allocations, device context, thread pool
    struct Mode {
      const char* name;
      int per_call;
      std::vector<double> seconds;
      std::uint64_t iterations = 0;
    };
    std::vector<Mode> modes{{"per-task", 1, {}}, {"batched", o.batch, {}}, {"all", o.tasks, {}}};
    for (int rep = 0; rep < o.repeat; ++rep) {
      for (auto& m : modes) {  // interleaved, so drift on a shared machine hits every mode alike
        const auto [s, it] = run(*r, t, m.per_call);
        m.seconds.push_back(s);
        m.iterations = it;
      }
    }
    std::printf("backend %s\n", r->name().c_str());
    const double base = median(modes[0].seconds);
    for (const auto& m : modes) {
      const double s = median(m.seconds);
      std::printf("  %-9s calls=%-5d median %.4f s  %9.0f tasks/s  %.3g iter/s  x%.2f vs per-task\n", m.name,
                  (o.tasks + m.per_call - 1) / m.per_call, s, o.tasks / s, static_cast<double>(m.iterations) / s,
                  base / s);
      if (m.iterations != modes[0].iterations) {
        std::printf("  MISMATCH: %s computed %llu iterations, per-task %llu\n", m.name,
                    static_cast<unsigned long long>(m.iterations), static_cast<unsigned long long>(modes[0].iterations));
        rc = 1;
      }
    }
  }
  return rc;
}
