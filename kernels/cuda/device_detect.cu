// Device detection: whether this process can use a CUDA device, and the
// figures of one the backend needs. The one place where a CUDA error is an
// answer ("no CUDA here"), not a failure.
#include "kernels/cuda/device_detect.cuh"

#include <cuda_runtime.h>

#include <exception>
#include <string>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.cuh"

namespace fractal {
namespace cuda {

int compute_capability(int device) {
  int major = 0, minor = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return major * 10 + minor;
}

int fp32_lanes_per_sm(int major, int minor) {
  if (major == 7 || (major == 8 && minor == 0)) return 64;  // Turing, A100
  return 128;                                                // GA10x, Ada, Hopper and later
}

int fp64_lanes_per_sm(int major, int minor) {
  if (major == 8 && minor == 0) return 32;  // A100
  if (major == 9) return 64;                // H100/H200
  return 2;                                 // consumer parts: 1/32 .. 1/64 rate
}

}  // namespace cuda

bool cuda_device_present(std::string* reason) {
  // Detection is the one place where a CUDA error is an answer, not a failure.
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    if (reason != nullptr) {
      if (status == cudaErrorInsufficientDriver) *reason = "no usable CUDA driver (cudaErrorInsufficientDriver)";
      else if (status == cudaErrorNoDevice) *reason = "no CUDA device (cudaErrorNoDevice)";
      else *reason = std::string("CUDA is unavailable: ") + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")";
    }
    return false;
  }
  if (count == 0) {
    if (reason != nullptr) *reason = "no CUDA device";
    return false;
  }
  try {
    for (int d = 0; d < count; ++d)
      if (cuda::compute_capability(d) >= cuda::kMinComputeCapability) return true;
  } catch (const std::exception& e) {
    if (reason != nullptr) *reason = e.what();
    return false;
  }
  if (reason != nullptr) *reason = "no CUDA device of compute capability 7.5 or newer";
  return false;
}

}  // namespace fractal
