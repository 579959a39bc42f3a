// The Warp interface of the device scheduling code (render_tiles in
// cuda_renderer.cuh, render_deep_samples in deep_tiles.cuh) on a real warp.
// The tests implement the same four operations on host threads
// (tests/kernels/host_warp.h).
#pragma once

#include <cuda_runtime.h>

namespace fractal::cuda {

struct DeviceWarp {
  __device__ unsigned lane() const { return threadIdx.x & 31u; }
  __device__ unsigned ballot(bool p) const { return __ballot_sync(0xffffffffu, p); }
  __device__ unsigned fetch_add(unsigned* counter) const {
    unsigned v = 0;
    if (lane() == 0) v = atomicAdd(counter, 1u);
    return __shfl_sync(0xffffffffu, v, 0);
  }
  // Read by one lane and broadcast, so every lane takes the same branch even
  // while the host flips the flag.
  __device__ int uniform_load(const int* p) const {
    int v = 0;
    if (lane() == 0) v = *static_cast<const volatile int*>(p);
    return __shfl_sync(0xffffffffu, v, 0);
  }
};

}  // namespace fractal::cuda
