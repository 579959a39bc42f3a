// The work of one persistent warp: pull tiles of the batch from a global
// queue and keep all 32 lanes busy on their points.
//
// Tiles. A tile is a row segment of up to kTileColumns = 256 samples of one
// job. Because lanes refill point by point (below), a tile does not need to be
// a coherent 2D patch to avoid divergence; row segments give contiguous output
// writes, one imaginary coordinate per tile, no waste at the right edge for
// any width and no division per point. 256 samples keeps the queue fine
// enough to balance (a 4096^2 job is 65536 tiles, ~8 per resident warp on an
// H100, so the last tile to finish is short) while one atomicAdd per 256
// samples (~1 M for a 256 Mi-sample round) stays far from the L2 atomic rate.
//
// Lanes. Each lane owns one point: kRunning lanes advance in unchecked blocks
// of kFastSteps; a block that escaped (or a point near max_iter, or a
// non-monotone Julia point) turns the lane kPending. Pending lanes are
// finished with tested steps, written out, and refilled with the next points
// of the tile, all at a "service" stop of the whole warp. A service costs the
// warp about as much as a block, so it is not done for every lane that
// stops: it waits until kServiceLanes lanes wait, or kMaxWaitTrips blocks
// passed, or nobody runs. A plain one-point-per-thread kernel instead idles
// every finished lane until the slowest lane of the warp is done.
//
// Written against a tiny Warp interface (lane, ballot, fetch_add,
// uniform_load) so that the scheduling logic also runs on the host under an
// emulated warp, for tests on machines without a GPU.
#pragma once

#include <cstdint>

#include "kernels/cuda/escape_kernel.cuh"

namespace fractal::cuda {

inline constexpr int kTileColumns = 256;
inline constexpr int kWarpLanes = 32;
inline constexpr int kBlockThreads = 128;  // 4 independent warps; no block-level synchronisation
inline constexpr int kServiceLanes = 8;
inline constexpr int kMaxWaitTrips = 4;

enum JobFlags : unsigned {
  kJobJulia = 1u,     // z0 = point, c = julia; else z0 = 0, c = point
  kJobMonotone = 2u,  // escape is monotone: unchecked blocks allowed (all but Julia with |c| > 2)
  kJobMag2 = 4u,      // write |z_k|^2 at escape
};

// One job of a batch, as the device sees it. Jobs are ordered by scalar type
// (float jobs first), each type's jobs by tile_begin; no job is empty.
struct JobDesc {
  long long sample_begin;  // first sample of the job in the batch's sample sequence
  long long tile_begin;    // first tile of the job in the batch's tile sequence
  double center_re, center_im, scale;
  double c_re, c_im;       // Julia constant
  int grid_width, grid_height, row0, rows;
  int segs;                // tiles per row: ceil(grid_width / kTileColumns)
  int max_iter;
  unsigned flags;          // JobFlags
  unsigned table_off;      // the job's coordinates in its type's table: re[grid_width], then im[rows]
};

// One launch: the tiles [tile_begin, tile_begin + tile_count) of the batch,
// all of jobs [job_first, job_first + job_count) (one scalar type).
struct LaunchArgs {
  const JobDesc* jobs;
  int job_first, job_count;
  const void* table;             // T[]: coordinates per job, see JobDesc::table_off
  const int* cancel;             // per batch job: nonzero = skip its tiles
  unsigned* counter;             // the queue: next tile, relative to tile_begin
  long long tile_begin;
  unsigned tile_count;
  long long round_sample_begin;  // batch sample held at counts[0]
  std::uint32_t* counts;         // the round's outputs, indexed by batch sample - round_sample_begin
  float* mag2;
};

__host__ __device__ __forceinline__ int popcount32(unsigned v) {
#ifdef __CUDA_ARCH__
  return __popc(v);
#else
  return __builtin_popcount(v);
#endif
}

// The job holding batch tile t among jobs [first, first + count).
__host__ __device__ inline int find_job_of_tile(const JobDesc* jobs, int first, int count, long long t) {
  int lo = first, hi = first + count - 1;
  while (lo < hi) {
    const int mid = lo + (hi - lo + 1) / 2;
    if (jobs[mid].tile_begin <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

enum LaneState : int { kIdle = 0, kRunning = 1, kPending = 2 };

// Every lane of the warp calls this; it returns when the launch's queue is
// empty and every lane's point is written. (The pragma lets a host-only Warp
// instantiate it without host/device diagnostics, as Thrust does for functors.)
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <class T, class Warp>
__host__ __device__ void render_tiles(const LaunchArgs& a, Warp& w) {
  constexpr unsigned kAllLanes = 0xffffffffu;
  const unsigned lane = w.lane();
  const unsigned lanes_below = (1u << lane) - 1u;
  const T* table = static_cast<const T*>(a.table);

  // The warp's current tile: the same values in every lane.
  int tile_n = 0, next = 0, tile_max_iter = 0;
  unsigned tile_out = 0, tile_re = 0, tile_flags = 0;
  T tile_im = T(0), tile_cr = T(0), tile_ci = T(0);
  bool queue_open = true;

  // This lane's point: z = x + iy after k steps, c = cr + i ci.
  int state = kIdle, k = 0, max_iter = 0;
  unsigned out = 0, flags = 0;
  T x = T(0), y = T(0), cr = T(0), ci = T(0);

  int wait_trips = 0;
  for (;;) {
    const unsigned running = w.ballot(state == kRunning);
    if (running != kAllLanes) {
      ++wait_trips;
      if (running == 0 || wait_trips >= kMaxWaitTrips || kWarpLanes - popcount32(running) >= kServiceLanes) {
        wait_trips = 0;
        // Finish the pending points with a test per step (the rollback replay).
        if (state == kPending) {
          float m2 = 0.0f;
          if (escape_checked(x, y, cr, ci, k, max_iter, kFastSteps, m2)) {
            a.counts[out] = static_cast<std::uint32_t>(k);
            if (flags & kJobMag2) a.mag2[out] = m2;
            state = kIdle;
          } else {
            state = kRunning;
          }
        }
        // Refill idle lanes with the next points of the tile, taking new tiles as needed.
        unsigned idle = w.ballot(state == kIdle);
        while (idle != 0 && queue_open) {
          if (next >= tile_n) {
            const unsigned t = w.fetch_add(a.counter);
            if (t >= a.tile_count) {
              queue_open = false;
              break;
            }
            const long long bt = a.tile_begin + t;
            const int j = find_job_of_tile(a.jobs, a.job_first, a.job_count, bt);
            const JobDesc& job = a.jobs[j];
            const unsigned local = static_cast<unsigned>(bt - job.tile_begin);
            const unsigned segs = static_cast<unsigned>(job.segs);
            const unsigned r = local / segs;
            const int col0 = static_cast<int>((local - r * segs) * kTileColumns);
            tile_n = job.grid_width - col0 < kTileColumns ? job.grid_width - col0 : kTileColumns;
            next = 0;
            tile_out = static_cast<unsigned>(job.sample_begin - a.round_sample_begin +
                                             static_cast<long long>(r) * job.grid_width + col0);
            if (w.uniform_load(a.cancel + j) != 0) {
              // Canceled: zero the counts so the job's partial total stays exact.
              for (int i = static_cast<int>(lane); i < tile_n; i += kWarpLanes) a.counts[tile_out + i] = 0;
              tile_n = 0;
              continue;
            }
            tile_re = job.table_off + static_cast<unsigned>(col0);
            tile_im = table[job.table_off + static_cast<unsigned>(job.grid_width) + r];
            tile_cr = static_cast<T>(job.c_re);
            tile_ci = static_cast<T>(job.c_im);
            tile_max_iter = job.max_iter;
            tile_flags = job.flags;
            continue;
          }
          const int idx = next + popcount32(idle & lanes_below);
          if (state == kIdle && idx < tile_n) {
            const T re = table[tile_re + static_cast<unsigned>(idx)];
            if (tile_flags & kJobJulia) {
              x = re;
              y = tile_im;
              cr = tile_cr;
              ci = tile_ci;
            } else {
              x = T(0);
              y = T(0);
              cr = re;
              ci = tile_im;
            }
            k = 0;
            max_iter = tile_max_iter;
            flags = tile_flags;
            out = tile_out + static_cast<unsigned>(idx);
            state = kRunning;
          }
          const int taken = popcount32(idle);
          next = tile_n - next < taken ? tile_n : next + taken;
          idle = w.ballot(state == kIdle);
        }
        // Nobody runs after a service only when the queue is empty and every lane is idle.
        if (w.ballot(state == kRunning) == 0) return;
      }
    }

    // One block of unchecked steps for the running lanes.
    if (state == kRunning) {
      if ((flags & kJobMonotone) && max_iter - k >= kFastSteps) {
        const T sx = x, sy = y;
        if (escape_block<T, kFastSteps>(x, y, cr, ci)) {
          k += kFastSteps;
        } else {
          x = sx;
          y = sy;
          state = kPending;
        }
      } else {
        state = kPending;
      }
    }
  }
}

}  // namespace fractal::cuda
