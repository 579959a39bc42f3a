// Host-callable entry points of the deep (perturbation) device code
// (deep_kernel.cu), for the host pipeline in deep_runner.cu.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/deep_tiles.cuh"

namespace fractal::cuda {

// Resident blocks per SM of the persistent deep kernel.
[[nodiscard]] int deep_blocks_per_sm();

// One persistent launch over a whole pass: `blocks` blocks of kBlockThreads.
void launch_deep_samples(cudaStream_t stream, unsigned blocks, const DeepLaunchArgs& args);

}  // namespace fractal::cuda
