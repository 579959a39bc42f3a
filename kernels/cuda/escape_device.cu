// Device code of the escape-time path: the persistent tile kernel
// (render_tiles, cuda_renderer.cuh) for float and double, the coordinate
// tables and the per-job totals (Thrust), behind the host-callable entry
// points of escape_device.cuh.
#include "kernels/cuda/escape_device.cuh"

#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/reduce.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_warp.cuh"
#include "kernels/cuda/escape_kernel.cuh"
#include "kernels/grid_map.h"

namespace fractal::cuda {
namespace {

template <class T>
__global__ void __launch_bounds__(kBlockThreads) escape_tiles_kernel(const LaunchArgs args) {
  DeviceWarp warp;
  render_tiles<T>(args, warp);
}

// Coordinate table entry e of the jobs [first, first + count): re of a column
// or im of a row, in double, rounded once to T.
template <class T>
struct FillCoordinates {
  const JobDesc* jobs;
  int first, count;
  T* table;
  __host__ __device__ void operator()(unsigned e) const {
    int lo = first, hi = first + count - 1;
    while (lo < hi) {
      const int mid = lo + (hi - lo + 1) / 2;
      if (jobs[mid].table_off <= e) lo = mid;
      else hi = mid - 1;
    }
    const JobDesc& j = jobs[lo];
    const int local = static_cast<int>(e - j.table_off);
    const double v = local < j.grid_width
                         ? grid_re(j.center_re, j.scale, j.grid_width, local)
                         : grid_im(j.center_im, j.scale, j.grid_width, j.grid_height, j.row0 + local - j.grid_width);
    table[e] = static_cast<T>(v);
  }
};

// Batch sample -> batch job (jobs sorted by sample_begin, none empty).
struct SampleJob {
  const JobDesc* jobs;
  int count;
  __host__ __device__ int operator()(long long s) const {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
      const int mid = lo + (hi - lo + 1) / 2;
      if (jobs[mid].sample_begin <= s) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
};

struct WidenCount {
  __host__ __device__ unsigned long long operator()(std::uint32_t c) const { return c; }
};

}  // namespace

int escape_blocks_per_sm(bool f32) {
  int per_sm = 0;
  if (f32) CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, escape_tiles_kernel<float>, kBlockThreads, 0));
  else CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, escape_tiles_kernel<double>, kBlockThreads, 0));
  return per_sm;
}

void launch_escape_tiles(bool f32, cudaStream_t stream, unsigned blocks, const LaunchArgs& args) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(kBlockThreads);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  if (f32) CUDA_CHECK(cudaLaunchKernelEx(&config, escape_tiles_kernel<float>, args));
  else CUDA_CHECK(cudaLaunchKernelEx(&config, escape_tiles_kernel<double>, args));
}

void fill_coordinates(bool f32, ThrustScratch& scratch, cudaStream_t stream, const JobDesc* jobs, int first, int count,
                      void* table, std::int64_t entries) {
  if (f32)
    thrust::for_each_n(thrust::cuda::par_nosync(scratch).on(stream), thrust::counting_iterator<unsigned>(0), entries,
                       FillCoordinates<float>{jobs, first, count, static_cast<float*>(table)});
  else
    thrust::for_each_n(thrust::cuda::par_nosync(scratch).on(stream), thrust::counting_iterator<unsigned>(0), entries,
                       FillCoordinates<double>{jobs, first, count, static_cast<double*>(table)});
}

std::size_t reduce_counts_by_job(ThrustScratch& scratch, cudaStream_t stream, const JobDesc* jobs, int job_count,
                                 long long s0, long long n, const std::uint32_t* counts, int* keys,
                                 unsigned long long* sums) {
  const auto key_it = thrust::make_transform_iterator(thrust::counting_iterator<long long>(s0), SampleJob{jobs, job_count});
  const auto values = thrust::make_transform_iterator(counts, WidenCount{});
  const auto ends = thrust::reduce_by_key(thrust::cuda::par_nosync(scratch).on(stream), key_it, key_it + n, values, keys, sums);
  return static_cast<std::size_t>(ends.first - keys);
}

}  // namespace fractal::cuda
