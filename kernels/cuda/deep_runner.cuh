// The CUDA backend's deep::SampleRunner: the per-sample work of deep views on
// the GPU, with the reference orbit and BLA table computed on the host
// (kernels/deep/deep_render.cpp) and uploaded once per view.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "kernels/cuda/device_memory.cuh"
#include "kernels/cuda/stream.cuh"
#include "kernels/deep/deep_render.h"

namespace fractal::cuda {

class CudaSampleRunner final : public deep::SampleRunner {
 public:
  // The device must be current (the CudaRenderer selected it).
  CudaSampleRunner(int device, std::string device_name);
  CudaSampleRunner(const CudaSampleRunner&) = delete;
  CudaSampleRunner& operator=(const CudaSampleRunner&) = delete;
  ~CudaSampleRunner() override = default;

  Result run(const deep::SamplePass& pass, const std::shared_ptr<const void>& tables, const deep::Band& band,
             bool count_progress) override;
  [[nodiscard]] std::string name() const override { return name_; }

 private:
  void upload_tables(const deep::SamplePass& pass, const std::shared_ptr<const void>& tables);
  [[nodiscard]] bool wait_polling(const deep::SamplePass& pass, const deep::Band& band, bool count_progress,
                                  std::uint64_t& reported);

  std::mutex mutex_;  // one pass at a time on this device's streams
  int device_;
  std::string name_;
  int blocks_ = 0;

  Stream compute_;  // uploads, the kernel, the results' copy
  Stream control_;  // cancel flag in, progress out, while the kernel runs
  Event kernel_done_;

  // The tables on the device, and the host object they are a copy of (held,
  // so that its address cannot name another table while this copy exists).
  std::shared_ptr<const void> uploaded_;
  DeviceArray<double> d_orbit_re_, d_orbit_im_;
  DeviceArray<deep::BlaEntry> d_bla_;
  DeviceArray<int> d_level_start_, d_level_count_;

  DeviceArray<std::uint32_t> d_only_;
  DeviceArray<deep::PixelResult> d_out_;
  DeviceArray<unsigned> d_counters_;  // [0] queue, [1] chunks done
  DeviceArray<int> d_cancel_;
  PinnedArray<deep::PixelResult> h_out_;
  PinnedArray<unsigned> h_done_;
  PinnedArray<int> h_cancel_;
};

}  // namespace fractal::cuda
