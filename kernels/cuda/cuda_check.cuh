// CUDA_CHECK: every CUDA runtime call goes through it. A failure becomes a
// std::runtime_error naming the file, the line, the call and the CUDA error.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace fractal::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t error, const char* call, const char* file, int line) {
  // Clear a non-sticky error so that it does not resurface at the next check.
  (void)cudaGetLastError();
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " +
                           cudaGetErrorName(error) + " (" + cudaGetErrorString(error) + ")");
}

// For destructors, which must not throw: one log line instead.
inline void report_cuda_error(cudaError_t error, const char* call, const char* file, int line) noexcept {
  (void)cudaGetLastError();
  std::fprintf(stderr, "level=error event=cuda_error file=%s line=%d call=\"%s\" error=%s message=\"%s\"\n", file, line,
               call, cudaGetErrorName(error), cudaGetErrorString(error));
}

}  // namespace fractal::cuda

#define CUDA_CHECK(call)                                                                  \
  do {                                                                                    \
    const cudaError_t fractal_cuda_error_ = (call);                                       \
    if (fractal_cuda_error_ != cudaSuccess)                                               \
      ::fractal::cuda::throw_cuda_error(fractal_cuda_error_, #call, __FILE__, __LINE__);  \
  } while (0)

#define CUDA_CHECK_NOTHROW(call)                                                          \
  do {                                                                                    \
    const cudaError_t fractal_cuda_error_ = (call);                                       \
    if (fractal_cuda_error_ != cudaSuccess)                                               \
      ::fractal::cuda::report_cuda_error(fractal_cuda_error_, #call, __FILE__, __LINE__); \
  } while (0)
