// Device detection and the figures of a device the backend needs
// (device_detect.cu). cuda_device_present itself is declared in cuda_backend.h.
#pragma once

namespace fractal::cuda {

// Oldest architecture this build has code for (CMAKE_CUDA_ARCHITECTURES).
inline constexpr int kMinComputeCapability = 75;

// major * 10 + minor of `device`; throws (CUDA_CHECK) when it cannot be read.
[[nodiscard]] int compute_capability(int device);

// FP32 and FP64 lanes per SM, for the bound of Renderer::peak_iterations_per_second.
[[nodiscard]] int fp32_lanes_per_sm(int major, int minor);
[[nodiscard]] int fp64_lanes_per_sm(int major, int minor);

}  // namespace fractal::cuda
