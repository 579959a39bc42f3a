// Host-callable entry points of the escape-time device code
// (escape_device.cu), for the host pipeline in cuda_renderer.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/cuda_renderer.cuh"
#include "kernels/cuda/device_memory.cuh"

namespace fractal::cuda {

// Resident blocks per SM of the persistent tile kernel (float when f32, else double).
[[nodiscard]] int escape_blocks_per_sm(bool f32);

// One persistent launch of the tile kernel: `blocks` blocks of kBlockThreads.
void launch_escape_tiles(bool f32, cudaStream_t stream, unsigned blocks, const LaunchArgs& args);

// Coordinate table entries [0, entries) of jobs [first, first + count): each
// column's re, then each row's im (JobDesc::table_off), computed in double
// (kernels/grid_map.h) and rounded once to float (f32) or kept in double.
void fill_coordinates(bool f32, ThrustScratch& scratch, cudaStream_t stream, const JobDesc* jobs, int first, int count,
                      void* table, std::int64_t entries);

// Sums the counts of batch samples [s0, s0 + n) per job (jobs sorted by
// sample_begin): writes each run's job index and total, returns the runs.
[[nodiscard]] std::size_t reduce_counts_by_job(ThrustScratch& scratch, cudaStream_t stream, const JobDesc* jobs,
                                               int job_count, long long s0, long long n, const std::uint32_t* counts,
                                               int* keys, unsigned long long* sums);

}  // namespace fractal::cuda
