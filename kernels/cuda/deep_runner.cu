// One deep pass on the GPU:
//   tables   the orbit (re, im) and the BLA table (entries, level starts and
//            counts) are copied to the device when the pass names other
//            tables than the last one: once per view (and once per extra
//            reference of a view whose centre escapes early).
//   samples  the pass's sample list (re-reference passes only) is uploaded;
//            a full band needs none (sample q is band index q).
//   kernel   one persistent launch over the whole pass: as many blocks as are
//            resident at once (capped by the pass's chunks), every warp takes
//            chunks of 32 samples from one queue (deep_tiles.cuh).
//   polling  while the kernel runs, the host sends the cancel flag and reads
//            the chunks-done counter on a second stream for progress.
//   results  one copy of the PixelResults into pinned memory, then the host
//            writes counts and |z|^2 into the band and sums rebases and BLA
//            skips exactly as the CPU runner does.
#include "kernels/cuda/deep_runner.cuh"

#include <algorithm>
#include <chrono>
#include <thread>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/deep_kernel.cuh"
#include "kernels/nvtx_range.h"

namespace fractal::cuda {

CudaSampleRunner::CudaSampleRunner(int device, std::string device_name)
    : device_(device), name_(std::move(device_name)) {
  int sms = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  blocks_ = deep_blocks_per_sm() * sms;
  if (blocks_ <= 0) throw std::runtime_error("the deep kernel cannot be resident on " + name_);
  d_counters_.reserve(2);
  d_cancel_.reserve(1);
  h_done_.reserve(1);
  h_cancel_.reserve(1);
}

void CudaSampleRunner::upload_tables(const deep::SamplePass& pass, const std::shared_ptr<const void>& tables) {
  if (uploaded_ != nullptr && uploaded_.get() == tables.get()) return;
  NvtxRange range("deep upload");
  uploaded_.reset();
  cudaStream_t s = compute_.get();
  const auto length = static_cast<std::size_t>(pass.orbit.length);
  d_orbit_re_.reserve(length);
  d_orbit_im_.reserve(length);
  CUDA_CHECK(cudaMemcpyAsync(d_orbit_re_.get(), pass.orbit.re, length * sizeof(double), cudaMemcpyHostToDevice, s));
  CUDA_CHECK(cudaMemcpyAsync(d_orbit_im_.get(), pass.orbit.im, length * sizeof(double), cudaMemcpyHostToDevice, s));
  const auto levels = static_cast<std::size_t>(pass.bla.levels);
  if (levels > 0) {
    const std::size_t entries = static_cast<std::size_t>(pass.bla.level_start[levels - 1] + pass.bla.level_count[levels - 1]);
    d_bla_.reserve(std::max<std::size_t>(1, entries));
    d_level_start_.reserve(levels);
    d_level_count_.reserve(levels);
    CUDA_CHECK(cudaMemcpyAsync(d_bla_.get(), pass.bla.entries, entries * sizeof(deep::BlaEntry), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d_level_start_.get(), pass.bla.level_start, levels * sizeof(int), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d_level_count_.get(), pass.bla.level_count, levels * sizeof(int), cudaMemcpyHostToDevice, s));
  }
  // Pageable sources: the copies are done with the host memory when they return,
  // but finish the upload before the tables are named current.
  CUDA_CHECK(cudaStreamSynchronize(s));
  uploaded_ = tables;
}

deep::SampleRunner::Result CudaSampleRunner::run(const deep::SamplePass& pass, const std::shared_ptr<const void>& tables,
                                                 const deep::Band& band, bool count_progress) {
  Result result;
  if (pass.count == 0) return result;
  std::lock_guard lock(mutex_);
  NvtxRange range("deep pass");
  CUDA_CHECK(cudaSetDevice(device_));
  if (band.cancel != nullptr && band.cancel->load()) {
    result.canceled = true;
    return result;
  }
  upload_tables(pass, tables);

  cudaStream_t s = compute_.get();
  const std::size_t n = pass.count;
  deep::SamplePass dev = pass;
  dev.orbit.re = d_orbit_re_.get();
  dev.orbit.im = d_orbit_im_.get();
  if (pass.bla.levels > 0) {
    dev.bla.entries = d_bla_.get();
    dev.bla.level_start = d_level_start_.get();
    dev.bla.level_count = d_level_count_.get();
  } else {
    dev.bla = deep::BlaView{nullptr, nullptr, nullptr, 0, pass.bla.origin};  // no host pointer reaches the device
  }
  if (pass.only != nullptr) {
    d_only_.reserve(n);
    CUDA_CHECK(cudaMemcpyAsync(d_only_.get(), pass.only, n * sizeof(std::uint32_t), cudaMemcpyHostToDevice, s));
    dev.only = d_only_.get();
  }
  d_out_.reserve(n);
  h_out_.reserve(n);
  h_cancel_[0] = 0;
  CUDA_CHECK(cudaMemsetAsync(d_counters_.get(), 0, 2 * sizeof(unsigned), s));
  CUDA_CHECK(cudaMemsetAsync(d_cancel_.get(), 0, sizeof(int), s));
  // The control stream's cancel copy must land after that memset.
  CUDA_CHECK(cudaStreamSynchronize(s));

  DeepLaunchArgs args{};
  args.pass = dev;
  args.counter = d_counters_.get();
  args.chunks_done = d_counters_.get() + 1;
  args.cancel = d_cancel_.get();
  args.out = d_out_.get();
  const unsigned long long chunks = (n + kWarpLanes - 1) / kWarpLanes;
  const unsigned long long warps_per_block = kBlockThreads / kWarpLanes;
  const auto blocks = static_cast<unsigned>(
      std::min<unsigned long long>(static_cast<unsigned long long>(blocks_), (chunks + warps_per_block - 1) / warps_per_block));
  {
    NvtxRange k("deep kernel");
    launch_deep_samples(s, blocks, args);
    CUDA_CHECK(cudaEventRecord(kernel_done_.get(), s));
  }
  CUDA_CHECK(cudaMemcpyAsync(h_out_.get(), d_out_.get(), n * sizeof(deep::PixelResult), cudaMemcpyDeviceToHost, s));

  std::uint64_t reported = 0;
  bool canceled = false;
  try {
    canceled = wait_polling(pass, band, count_progress, reported);
    CUDA_CHECK(cudaStreamSynchronize(s));
    CUDA_CHECK(cudaStreamSynchronize(control_.get()));
  } catch (...) {
    CUDA_CHECK_NOTHROW(cudaStreamSynchronize(s));
    CUDA_CHECK_NOTHROW(cudaStreamSynchronize(control_.get()));
    throw;
  }
  if (canceled) {
    // Samples after the cancel were never written: deliver none (the band is dropped).
    result.canceled = true;
    return result;
  }

  NvtxRange deliver("deep deliver");
  deep::deliver_pass(pass, h_out_.get(), band, result);
  if (count_progress && band.progress != nullptr && reported < n) band.progress->fetch_add(n - reported);
  return result;
}

// Waits for the kernel, sending the cancel flag and reading progress on the
// control stream meanwhile. True when the pass was canceled.
bool CudaSampleRunner::wait_polling(const deep::SamplePass& pass, const deep::Band& band, bool count_progress,
                                    std::uint64_t& reported) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last_progress = start;
  bool cancel_sent = false;
  for (;;) {
    const cudaError_t status = cudaEventQuery(kernel_done_.get());
    if (status == cudaSuccess) break;
    if (status != cudaErrorNotReady) CUDA_CHECK(status);
    if (!cancel_sent && band.cancel != nullptr && band.cancel->load(std::memory_order_relaxed)) {
      cancel_sent = true;
      h_cancel_[0] = 1;
      CUDA_CHECK(cudaMemcpyAsync(d_cancel_.get(), h_cancel_.get(), sizeof(int), cudaMemcpyHostToDevice, control_.get()));
    }
    const auto now = Clock::now();
    if (count_progress && band.progress != nullptr && now - last_progress > std::chrono::milliseconds(50)) {
      last_progress = now;
      CUDA_CHECK(cudaMemcpyAsync(h_done_.get(), d_counters_.get() + 1, sizeof(unsigned), cudaMemcpyDeviceToHost,
                                 control_.get()));
      CUDA_CHECK(cudaStreamSynchronize(control_.get()));
      const std::uint64_t done = std::min<std::uint64_t>(pass.count, std::uint64_t{h_done_[0]} * kWarpLanes);
      if (done > reported) {
        band.progress->fetch_add(done - reported);
        reported = done;
      }
    }
    // Short passes finish within a few ms: yield first, then sleep in short steps.
    if (now - start < std::chrono::milliseconds(2)) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return cancel_sent;
}

}  // namespace fractal::cuda
