#include "kernels/cpu/cpu_renderer.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "kernels/cpu/escape_row.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/grid_map.h"

namespace fractal {
namespace {

// A tile is one row segment: long enough to amortise the call, short enough
// that a batch of small jobs still splits across every core, and bounded in
// work (columns x max_iter) so cancellation lands within tens of milliseconds.
constexpr int kTileColumns = 1024;
constexpr std::int64_t kTileWorkBound = std::int64_t{1} << 26;  // lane-iterations
static_assert(kTileColumns % cpu::row_pad() == 0);

int tile_columns(int max_iter) {
  const std::int64_t cols = kTileWorkBound / std::max(1, max_iter) / cpu::row_pad() * cpu::row_pad();
  return static_cast<int>(std::clamp<std::int64_t>(cols, cpu::row_pad(), kTileColumns));
}

struct JobPlan {
  RenderJob* job;
  std::vector<float> re_f;   // column coordinates, padded
  std::vector<double> re_d;
  int tile_cols;
  int segments_per_row;
  std::int64_t first_tile;
  std::atomic<std::uint64_t> iterations{0};
};

template <class T>
void fill_columns(const RenderJob& j, std::vector<T>& out) {
  out.assign(static_cast<std::size_t>(j.grid_width) + cpu::row_pad(), T(0));
  for (int i = 0; i < j.grid_width; ++i)
    out[i] = static_cast<T>(grid_re(j.center_re, j.scale, j.grid_width, i));
}

class CpuRenderer final : public Renderer {
 public:
  explicit CpuRenderer(const RendererOptions& o) : pool_(cpu::resolve_threads(o.threads)) {}

  [[nodiscard]] std::string name() const override {
    return "cpu:" + cpu::simd_target_name() + " x" + std::to_string(pool_.size());
  }

  void render(std::span<RenderJob> jobs) override {
    std::vector<JobPlan> plans(jobs.size());
    std::int64_t tiles = 0;
    for (std::size_t k = 0; k < jobs.size(); ++k) {
      RenderJob& j = jobs[k];
      JobPlan& p = plans[k];
      p.job = &j;
      j.iterations = 0;
      j.canceled = false;
      if (j.scalar == Scalar::f32) fill_columns(j, p.re_f);
      else fill_columns(j, p.re_d);
      p.tile_cols = tile_columns(j.max_iter);
      p.segments_per_row = (j.grid_width + p.tile_cols - 1) / p.tile_cols;
      p.first_tile = tiles;
      tiles += static_cast<std::int64_t>(p.segments_per_row) * std::max(0, j.rows);
    }
    std::atomic<std::int64_t> next{0};
    pool_.run([&](int) {
      std::size_t plan = 0;
      for (;;) {
        const std::int64_t t = next.fetch_add(1, std::memory_order_relaxed);
        if (t >= tiles) return;
        while (plan + 1 < plans.size() && plans[plan + 1].first_tile <= t) ++plan;
        while (plans[plan].first_tile > t) --plan;
        render_tile(plans[plan], t - plans[plan].first_tile);
      }
    });
    for (auto& p : plans) {
      p.job->iterations = p.iterations.load();
      if (p.job->cancel && p.job->cancel->load()) p.job->canceled = true;
    }
  }

 private:
  static void render_tile(JobPlan& p, std::int64_t local) {
    RenderJob& j = *p.job;
    if (j.cancel && j.cancel->load(std::memory_order_relaxed)) return;
    const int r = static_cast<int>(local / p.segments_per_row);
    const int col0 = static_cast<int>(local % p.segments_per_row) * p.tile_cols;
    const int row = j.row0 + r;
    cpu::RowArgs a;
    a.im = grid_im(j.center_im, j.scale, j.grid_width, j.grid_height, row);
    a.julia = j.fractal == FractalKind::julia;
    a.c_re = j.julia_re;
    a.c_im = j.julia_im;
    a.n = std::min(p.tile_cols, j.grid_width - col0);
    a.max_iter = j.max_iter;
    const std::size_t offset = static_cast<std::size_t>(r) * j.grid_width + col0;
    a.counts = j.counts + offset;
    a.mag2 = j.mag2 ? j.mag2 + offset : nullptr;
    std::uint64_t it;
    if (j.scalar == Scalar::f32) {
      a.re = p.re_f.data() + col0;
      it = cpu::escape_row_f32(a);
    } else {
      a.re = p.re_d.data() + col0;
      it = cpu::escape_row_f64(a);
    }
    p.iterations.fetch_add(it, std::memory_order_relaxed);
    if (j.progress) j.progress->fetch_add(static_cast<std::uint64_t>(a.n), std::memory_order_relaxed);
  }

  cpu::ThreadPool pool_;
};

}  // namespace

std::unique_ptr<Renderer> make_cpu_renderer(const RendererOptions& options) {
  return std::make_unique<CpuRenderer>(options);
}

}  // namespace fractal
