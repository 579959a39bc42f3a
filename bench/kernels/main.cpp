// bench/kernels: iterations per second per backend x precision on the
// reference workloads, and the whole pipeline (render + colour + PNG encode).
//
//   fractal-bench-kernels [--backend cpu|cuda|all] [--precision float|double|all]
//                         [--workload A|B|all] [--repeat N] [--pipeline] [--json FILE]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>
#include <unistd.h>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/render_task.h"
#include "kernels/renderer.h"
#include "kernels/task_spec.h"
#ifdef FRACTAL_BENCH_IMAGE
#include "kernels/image/image_writer.h"
#include "kernels/image/png_encode.h"
#include "kernels/tile_view.h"
#endif

namespace {

using fractal::Scalar;
using Clock = std::chrono::steady_clock;

struct Workload {
  const char* name;
  double center_re, center_im, scale;
  int size, max_iter;
  std::uint64_t reference_iterations;  // the published total for this view, a check on the semantics
};

constexpr Workload kWorkloads[] = {
    {"A", -0.5, 0.0, 2.0, 16000, 50, 6'248'109'921ULL},
    {"B", -0.75, 0.0, 2.5, 4096, 1000, 4'154'774'915ULL},
};

struct Result {
  double seconds = 0;
  std::uint64_t iterations = 0;
};

// Renders the whole grid as bands of one batch, reusing the buffers across repeats.
Result run_kernel(fractal::Renderer& r, const Workload& w, Scalar scalar, int repeat) {
  const int band_rows = static_cast<int>(std::max<std::int64_t>(1, r.max_job_samples() / w.size));
  std::vector<std::uint32_t> counts(static_cast<std::size_t>(w.size) * w.size);
  std::vector<fractal::RenderJob> jobs;
  for (int row = 0; row < w.size; row += band_rows) {
    fractal::RenderJob j;
    j.center_re = w.center_re;
    j.center_im = w.center_im;
    j.scale = w.scale;
    j.grid_width = j.grid_height = w.size;
    j.row0 = row;
    j.rows = std::min(band_rows, w.size - row);
    j.max_iter = w.max_iter;
    j.scalar = scalar;
    j.counts = counts.data() + static_cast<std::size_t>(row) * w.size;
    jobs.push_back(j);
  }
  Result best{1e30, 0};
  for (int k = 0; k < repeat; ++k) {
    const auto t0 = Clock::now();
    r.render(jobs);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::uint64_t total = 0;
    for (const auto& j : jobs) total += j.iterations;
    if (s < best.seconds) best = {s, total};
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend = "cpu", precision = "all", workload = "all", json_path;
  int repeat = 3;
  bool pipeline = false;
  int small_tasks = 0;  // --small-tasks N: the in-process reference of bench/service/small_tasks.sh
  std::vector<int> tile_levels;  // --tiles 3,4,5: the in-process reference of bench/service/tiles.sh
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--backend")) backend = next("--backend");
    else if (!std::strcmp(argv[i], "--precision")) precision = next("--precision");
    else if (!std::strcmp(argv[i], "--workload")) workload = next("--workload");
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::max(1, std::stoi(next("--repeat")));
    else if (!std::strcmp(argv[i], "--json")) json_path = next("--json");
    else if (!std::strcmp(argv[i], "--pipeline")) pipeline = true;
    else if (!std::strcmp(argv[i], "--small-tasks") && i + 1 < argc) small_tasks = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--tiles") && i + 1 < argc) {
      for (const char* p = argv[++i]; *p;) {
        tile_levels.push_back(std::atoi(p));
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    }
    else {
      std::fprintf(stderr, "usage: %s [--backend cpu|cuda|all] [--precision float|double|all] [--workload A|B|all] "
                   "[--repeat N] [--pipeline] [--json FILE]\n", argv[0]);
      return 2;
    }
  }
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::string> backends = backend == "all" ? std::vector<std::string>{"cpu", "cuda"}
                                                       : std::vector<std::string>{backend};
  for (const auto& b : backends) {
    std::unique_ptr<fractal::Renderer> r;
    try {
      r = fractal::make_renderer(*fractal::parse_backend(b));
    } catch (const std::exception& e) {
      std::printf("backend %s unavailable: %s\n", b.c_str(), e.what());
      continue;
    }
    for (const auto& w : kWorkloads) {
      if (workload != "all" && workload != w.name) continue;
      for (Scalar s : {Scalar::f32, Scalar::f64}) {
        if (precision != "all" && precision != fractal::to_string(s)) continue;
        const Result res = run_kernel(*r, w, s, repeat);
        const double rate = static_cast<double>(res.iterations) / res.seconds;
        const double peak = r->peak_iterations_per_second(s);
        std::printf("kernel backend=%s workload=%s precision=%s seconds=%.4f iterations=%llu (reference %llu, %+.4f%%) "
                    "G_iter_per_s=%.3f",
                    r->name().c_str(), w.name, std::string(fractal::to_string(s)).c_str(), res.seconds,
                    static_cast<unsigned long long>(res.iterations),
                    static_cast<unsigned long long>(w.reference_iterations),
                    100.0 * (static_cast<double>(res.iterations) / static_cast<double>(w.reference_iterations) - 1.0),
                    rate / 1e9);
        if (peak > 0) std::printf(" device_bound=%.3e fraction_of_bound=%.3f", peak, rate / peak);
        std::printf("\n");
        std::fflush(stdout);
        out.push_back({{"kind", "kernel"}, {"backend", r->name()}, {"workload", w.name},
                       {"precision", fractal::to_string(s)}, {"seconds", res.seconds},
                       {"iterations", res.iterations}, {"g_iter_per_s", rate / 1e9},
                       {"fraction_of_bound", peak > 0 ? rate / peak : 0.0}});
      }
    }
#ifdef FRACTAL_BENCH_IMAGE
    if (pipeline) {
      // Workload B as a user submits it: default colouring, auto precision, PNG at the default level.
      const Workload& w = kWorkloads[1];
      nlohmann::json body = {{"width", w.size}, {"height", w.size}, {"center", {w.center_re, w.center_im}},
                             {"scale", w.scale}, {"max_iter", w.max_iter}};
      auto parsed = fractal::parse_task_spec(body);
      fractal::TaskRun run(*parsed.spec);
      fractal::TaskRun* runs[] = {&run};
      const auto t0 = Clock::now();
      fractal::render_tasks(*r, runs);
      const auto t1 = Clock::now();
      const std::string path = "/tmp/fractal-bench-pipeline.png";
      const auto wr = fractal::write_image(run.image, fractal::ImageFormat::png, path);
      const auto t2 = Clock::now();
      const double render_s = std::chrono::duration<double>(t1 - t0).count();
      const double encode_s = std::chrono::duration<double>(t2 - t1).count();
      std::printf("pipeline backend=%s workload=B precision=%s render_colour_s=%.3f png_encode_s=%.3f total_s=%.3f "
                  "G_iter_per_s_end_to_end=%.3f bytes=%llu ok=%d\n",
                  r->name().c_str(), std::string(fractal::to_string(run.scalar)).c_str(), render_s, encode_s,
                  render_s + encode_s, static_cast<double>(run.iterations) / (render_s + encode_s) / 1e9,
                  static_cast<unsigned long long>(wr.bytes), wr.ok ? 1 : 0);
      out.push_back({{"kind", "pipeline"}, {"backend", r->name()}, {"workload", "B"}, {"render_colour_s", render_s},
                     {"png_encode_s", encode_s}, {"iterations", run.iterations}});
      std::remove(path.c_str());
    }
    if (small_tasks > 0) {
      // What one worker does for small tasks, without the service: renders in
      // batches of 32 (one render_tasks call each) and PNG files written by 2
      // encode threads while the next batch renders.
      const nlohmann::json body = {{"width", 256}, {"height", 256}, {"max_iter", 256}, {"format", "png"}};
      const fractal::TaskSpec spec = *fractal::parse_task_spec(body).spec;
      const std::string dir = "/dev/shm/fractal-bench-small-" + std::to_string(::getpid());
      std::filesystem::create_directories(dir);
      std::vector<std::future<void>> encodes;
      const auto t0 = Clock::now();
      std::atomic<int> written{0};
      for (int first = 0; first < small_tasks; first += 32) {
        const int n = std::min(32, small_tasks - first);
        auto runs = std::make_shared<std::vector<std::unique_ptr<fractal::TaskRun>>>();
        std::vector<fractal::TaskRun*> ptrs;
        for (int k = 0; k < n; ++k) {
          runs->push_back(std::make_unique<fractal::TaskRun>(spec));
          ptrs.push_back(runs->back().get());
        }
        fractal::render_tasks(*r, ptrs);
        for (int half = 0; half < 2; ++half) {
          encodes.push_back(std::async(std::launch::async, [runs, half, first, dir, &written] {
            for (std::size_t k = half; k < runs->size(); k += 2) {
              const auto wr = fractal::write_image((*runs)[k]->image, fractal::ImageFormat::png,
                                                   dir + "/" + std::to_string(first + k) + ".png");
              if (wr.ok) ++written;
            }
          }));
        }
        while (encodes.size() > 4) {  // at most two batches being encoded
          encodes.front().get();
          encodes.erase(encodes.begin());
        }
      }
      for (auto& e : encodes) e.get();
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      std::filesystem::remove_all(dir);
      std::printf("small_tasks backend=%s tasks=%d size=256x256 max_iter=256 format=png batch=32 encode_threads=2 "
                  "seconds=%.3f tasks_per_s=%.1f written=%d\n",
                  r->name().c_str(), small_tasks, s, small_tasks / s, written.load());
    }
    if (!tile_levels.empty()) {
      // The tiles of bench/service/tiles.sh rendered and PNG-encoded in-process:
      // per level, the 8 x 6 block of tiles around the centre in one
      // render_tasks call (what the tile lane does with a burst), encoded on 2 threads.
      double total_s = 0;
      int total_tiles = 0;
      for (int z : tile_levels) {
        std::vector<fractal::TaskSpec> specs;
        const std::int64_t side = std::int64_t{1} << z;
        const std::int64_t x0 = std::max<std::int64_t>(0, side / 2 - 4), y0 = std::max<std::int64_t>(0, side / 2 - 3);
        for (std::int64_t y = y0; y < std::min(side, y0 + 6); ++y) {
          for (std::int64_t x = x0; x < std::min(side, x0 + 8); ++x) {
            const auto v = fractal::tile_view_json(fractal::FractalKind::mandelbrot, z, std::to_string(x), std::to_string(y));
            const nlohmann::json body = {{"width", 256}, {"height", 256}, {"center", v.center}, {"scale", v.scale}};
            specs.push_back(*fractal::parse_task_spec(body).spec);
          }
        }
        std::vector<std::unique_ptr<fractal::TaskRun>> runs;
        std::vector<fractal::TaskRun*> ptrs;
        for (const auto& s : specs) {
          runs.push_back(std::make_unique<fractal::TaskRun>(s));
          ptrs.push_back(runs.back().get());
        }
        const auto t0 = Clock::now();
        fractal::render_tasks(*r, ptrs);
        std::atomic<std::size_t> bytes{0};
        auto encode = [&](std::size_t from) {
          for (std::size_t k = from; k < runs.size(); k += 2)
            if (auto png = fractal::encode_png(runs[k]->image)) bytes += png->size();
        };
        std::thread other(encode, 1);
        encode(0);
        other.join();
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        total_s += s;
        total_tiles += static_cast<int>(runs.size());
        std::printf("tiles_in_process backend=%s z=%d tiles=%zu seconds=%.3f tiles_per_s=%.1f png_bytes=%zu\n",
                    r->name().c_str(), z, runs.size(), s, runs.size() / s, bytes.load());
      }
      std::printf("tiles_in_process backend=%s levels=%zu tiles=%d seconds=%.3f tiles_per_s=%.1f\n", r->name().c_str(),
                  tile_levels.size(), total_tiles, total_s, total_tiles / total_s);
    }
#else
    if (pipeline) std::printf("pipeline: not built (core-only build has no image output)\n");
#endif
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
