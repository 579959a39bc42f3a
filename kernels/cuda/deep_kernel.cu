// Device code of the deep path: persistent warps running render_deep_samples
// (deep_tiles.cuh), i.e. kernels/deep/perturbation.h's iterate() per lane.
//
// This file is compiled with -fmad=false (kernels/cuda/CMakeLists.txt): the
// perturbation code is written as plain IEEE expressions, and the CPU runner
// rounds every one of them separately, so without FMA contraction a sample
// takes the same steps and gives the same count on both backends. (sqrt and
// division are IEEE round-to-nearest in nvcc's default -prec-sqrt/-prec-div.)
#include "kernels/cuda/deep_kernel.cuh"

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_warp.cuh"

namespace fractal::cuda {
namespace {

__global__ void __launch_bounds__(kBlockThreads) deep_samples_kernel(const DeepLaunchArgs args) {
  DeviceWarp warp;
  render_deep_samples(args, warp);
}

}  // namespace

int deep_blocks_per_sm() {
  int per_sm = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, deep_samples_kernel, kBlockThreads, 0));
  return per_sm;
}

void launch_deep_samples(cudaStream_t stream, unsigned blocks, const DeepLaunchArgs& args) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(kBlockThreads);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  CUDA_CHECK(cudaLaunchKernelEx(&config, deep_samples_kernel, args));
}

}  // namespace fractal::cuda
