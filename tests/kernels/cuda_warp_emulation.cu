// Runs the CUDA kernel's per-warp tile scheduling (render_tiles) on the host:
// 32 std::threads per warp, ballot/shuffle through a barrier, against the
// scalar reference. Checks the GPU code path's logic where no GPU exists.
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>
#include <random>

#include "kernels/cuda/cuda_renderer.cuh"
#include "tests/kernels/host_warp.h"

using namespace fractal;
using namespace fractal::cuda;

struct TJob {
  bool julia; double cre, cim, scale, jre, jim; int W, H, row0, rows, max_iter; bool mag2;
};

template <class T>
int run_case(const std::vector<TJob>& tjobs, int warps, int launches_split, int cancel_job, const char* name) {
  // Build descriptors like CudaRenderer::plan (one scalar type).
  std::vector<JobDesc> jobs;
  long long samples = 0, tiles = 0; unsigned table_n = 0;
  for (const TJob& t : tjobs) {
    JobDesc d{};
    d.sample_begin = samples; d.tile_begin = tiles;
    d.center_re = t.cre; d.center_im = t.cim; d.scale = t.scale; d.c_re = t.jre; d.c_im = t.jim;
    d.grid_width = t.W; d.grid_height = t.H; d.row0 = t.row0; d.rows = t.rows;
    d.segs = (t.W + kTileColumns - 1) / kTileColumns; d.max_iter = t.max_iter;
    d.flags = (t.julia ? kJobJulia : 0u) | (!t.julia || t.jre * t.jre + t.jim * t.jim <= 4.0 ? kJobMonotone : 0u) | (t.mag2 ? kJobMag2 : 0u);
    d.table_off = table_n; table_n += t.W + t.rows;
    samples += (long long)t.W * t.rows; tiles += (long long)d.segs * t.rows;
    jobs.push_back(d);
  }
  std::vector<T> table(table_n);
  for (const JobDesc& j : jobs) {
    for (int i = 0; i < j.grid_width; ++i) table[j.table_off + i] = (T)grid_re(j.center_re, j.scale, j.grid_width, i);
    for (int r = 0; r < j.rows; ++r) table[j.table_off + j.grid_width + r] = (T)grid_im(j.center_im, j.scale, j.grid_width, j.grid_height, j.row0 + r);
  }
  std::vector<int> cancel(jobs.size(), 0);
  if (cancel_job >= 0) cancel[cancel_job] = 1;
  std::vector<std::uint32_t> counts(samples, 0xdeadbeef);
  std::vector<float> mag2(samples, -1.0f);

  // Split the tile range into `launches_split` launches (rounds with their own output base).
  for (int L = 0; L < launches_split; ++L) {
    const long long ta = tiles * L / launches_split, tb = tiles * (L + 1) / launches_split;
    if (tb <= ta) continue;
    // round sample begin = sample of tile ta
    auto tile_sample = [&](long long t) -> long long {
      if (t >= tiles) return samples;
      int j = find_job_of_tile(jobs.data(), 0, (int)jobs.size(), t);
      long long local = t - jobs[j].tile_begin; long long r = local / jobs[j].segs, s = local % jobs[j].segs;
      return jobs[j].sample_begin + r * jobs[j].grid_width + s * kTileColumns;
    };
    const long long s0 = tile_sample(ta), s1 = tile_sample(tb);
    std::vector<std::uint32_t> rc(s1 - s0, 0xdeadbeef);
    std::vector<float> rm(s1 - s0, -1.0f);
    unsigned counter = 0;
    LaunchArgs a{};
    a.jobs = jobs.data(); a.job_first = 0; a.job_count = (int)jobs.size(); a.table = table.data();
    a.cancel = cancel.data(); a.counter = &counter; a.tile_begin = ta; a.tile_count = (unsigned)(tb - ta);
    a.round_sample_begin = s0; a.counts = rc.data(); a.mag2 = rm.data();
    std::vector<WarpShared> shared(warps);
    std::vector<std::thread> threads;
    for (int w = 0; w < warps; ++w)
      for (unsigned l = 0; l < 32; ++l)
        threads.emplace_back([&, w, l] { HostWarp hw{&shared[w], l}; render_tiles<T>(a, hw); });
    for (auto& t : threads) t.join();
    std::copy(rc.begin(), rc.end(), counts.begin() + s0);
    std::copy(rm.begin(), rm.end(), mag2.begin() + s0);
  }
  long long bad = 0, checked = 0;
  for (size_t ji = 0; ji < tjobs.size(); ++ji) {
    const TJob& t = tjobs[ji];
    const JobDesc& d = jobs[ji];
    for (int r = 0; r < t.rows; ++r)
      for (int i = 0; i < t.W; ++i) {
        const long long s = d.sample_begin + (long long)r * t.W + i;
        if ((int)ji == cancel_job) {
          // canceled tiles: zero or a correct value; never garbage
          const auto ref = escape_reference_at<T>(t.julia, t.cre, t.cim, t.scale, t.W, t.H, i, t.row0 + r, t.jre, t.jim, t.max_iter);
          if (counts[s] != 0 && counts[s] != ref.count) { if (bad++ < 5) printf("  cancel job sample %lld = %u\n", s, counts[s]); }
          continue;
        }
        const auto ref = escape_reference_at<T>(t.julia, t.cre, t.cim, t.scale, t.W, t.H, i, t.row0 + r, t.jre, t.jim, t.max_iter);
        ++checked;
        bool ok = counts[s] == ref.count;
        if (t.mag2) ok = ok && (mag2[s] == ref.mag2 || (std::isnan(mag2[s]) && std::isnan(ref.mag2)));
        if (!ok && bad++ < 10) printf("  job %zu (%d,%d): got %u/%g want %u/%g\n", ji, i, t.row0 + r, counts[s], mag2[s], ref.count, ref.mag2);
      }
  }
  printf("%-40s %s checked=%lld bad=%lld\n", name, sizeof(T) == 4 ? "f32" : "f64", checked, bad);
  return bad != 0;
}

int main() {
  int fails = 0;
  // Semantics spot checks: c = 1 -> 3, c = -2 -> max_iter, c = i -> max_iter.
  for (int mi : {1, 3, 4, 50, 1000}) {
    auto a = escape_reference<double>(0, 0, 1.0, 0.0, mi), b = escape_reference<double>(0, 0, -2.0, 0.0, mi), c = escape_reference<double>(0, 0, 0.0, 1.0, mi);
    auto af = escape_reference<float>(0, 0, 1.0f, 0.0f, mi);
    printf("max_iter %d: c=1 -> %u (mag %g), c=-2 -> %u, c=i -> %u, f32 c=1 -> %u\n", mi, a.count, a.mag2, b.count, c.count, af.count);
  }
  std::vector<TJob> mixed = {
    {false, -0.5, 0.0, 3.0, 0, 0, 300, 200, 0, 40, 200, true},     // Mandelbrot band, W not a multiple of 256
    {false, -0.75, 0.1, 0.5, 0, 0, 37, 29, 3, 20, 1000, false},   // narrow, deep-ish
    {true, 0.0, 0.0, 3.2, -0.8, 0.156, 530, 300, 100, 12, 300, true},  // Julia |c| < 2
    {true, 0.0, 0.0, 4.0, -2.5, 0.3, 64, 64, 0, 16, 100, true},   // Julia |c| > 2: non-monotone, checked path
    {false, -0.5, 0.0, 3.0, 0, 0, 100, 60, 0, 10, 1, true},       // max_iter 1
    {false, -0.5, 0.0, 3.0, 0, 0, 100, 60, 0, 10, 17, true},      // max_iter near kFastSteps
    {false, 1e300, 0.0, 1e301, 0, 0, 64, 8, 0, 8, 50, true},      // overflow: inf/NaN orbits
  };
  fails += run_case<float>(mixed, 2, 1, -1, "mixed jobs, 2 warps");
  fails += run_case<double>(mixed, 2, 1, -1, "mixed jobs, 2 warps");
  fails += run_case<float>(mixed, 3, 3, -1, "mixed jobs, 3 launches (rounds)");
  fails += run_case<double>(mixed, 1, 2, 2, "one job canceled");
  std::vector<TJob> deep = {{false, -0.743643887037151, 0.131825904205330, 1e-9, 0, 0, 256, 192, 0, 24, 3000, true}};
  fails += run_case<double>(deep, 2, 1, -1, "deep zoom, max_iter 3000");
  fails += run_case<float>({{false, -0.75, 0.0, 2.5, 0, 0, 512, 512, 200, 24, 1000, true}}, 2, 1, -1, "workload B rows");
  std::mt19937 rng(7);
  for (int round = 0; round < 6; ++round) {
    std::vector<TJob> many;
    const int n = 5 + round * 7;
    for (int i = 0; i < n; ++i) {
      std::uniform_real_distribution<double> u(-1, 1);
      TJob t{};
      t.julia = rng() % 3 == 0;
      t.cre = t.julia ? 0.0 : -0.6 + 0.3 * u(rng); t.cim = 0.2 * u(rng);
      t.scale = std::pow(10.0, -3.0 * (0.5 + 0.5 * u(rng))) * 3.0;
      t.jre = 1.2 * u(rng) - 0.4; t.jim = 1.5 * u(rng);
      t.W = 1 + rng() % 700; t.H = 1 + rng() % 300; t.row0 = rng() % t.H; t.rows = 1 + rng() % std::min(6, t.H - t.row0);
      t.max_iter = 1 + rng() % 600; t.mag2 = rng() % 2;
      many.push_back(t);
    }
    char name[64]; snprintf(name, sizeof name, "random %d jobs", n);
    fails += run_case<float>(many, 1 + round % 4, 1 + round % 3, -1, name);
    fails += run_case<double>(many, 1 + (round + 1) % 4, 1 + (round + 2) % 3, -1, name);
  }
  printf(fails ? "FAILED\n" : "ALL OK\n");
  return fails;
}
