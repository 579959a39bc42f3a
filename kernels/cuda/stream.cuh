// RAII for the CUDA objects of the host pipelines: streams, events and the
// device selection.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.cuh"

namespace fractal::cuda {

class Stream {
 public:
  Stream() { CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() { CUDA_CHECK_NOTHROW(cudaStreamDestroy(stream_)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  [[nodiscard]] cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  Event() { CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming)); }
  ~Event() { CUDA_CHECK_NOTHROW(cudaEventDestroy(event_)); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  [[nodiscard]] cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Selects the device before any other member touches CUDA.
struct DeviceSelection {
  explicit DeviceSelection(int d) : device(d) { CUDA_CHECK(cudaSetDevice(device)); }
  int device;
};

}  // namespace fractal::cuda
