// The CUDA backend's host pipeline: a batch of RenderJobs rendered by
// persistent warps that share one tile queue (cuda_renderer.cuh), results
// streamed back through pinned staging while the GPU keeps computing, totals
// reduced with Thrust. Deep jobs go to deep_sample_runner() (deep_runner.cu).
//
// The backend's files:
//   cuda_renderer.cu     this host pipeline (planning, rounds, streams, pieces) and make_cuda_renderer
//   escape_device.cu     device code of the escape path: tile kernel, coordinate tables, totals
//   cuda_renderer.cuh    the tile queue's scheduling (render_tiles), host-emulated in the tests
//   escape_kernel.cuh    the escape-time iteration shared with the host reference
//   deep_runner.cu       host pipeline of deep passes; deep_kernel.cu + deep_tiles.cuh their device code
//   device_memory.cuh    RAII: device and pinned arrays, Thrust's scratch cache
//   stream.cuh           RAII: streams, events, device selection
//   device_detect.cu     whether a usable device exists, and its figures
//
// One render() call:
//   setup     upload the job table (float jobs first, then double), zero the
//             cancel flags, fill the per-job coordinate tables (thrust::for_each:
//             each column's re and each row's im computed once, in double).
//   rounds    the batch's tiles in rounds of at most round_capacity_ samples:
//             device memory is bounded and reused however large the batch.
//   chunks    a round is cut into up to 4 chunks by samples. Each chunk is one
//             launch per scalar type, alternating between two compute streams,
//             so chunk c+1's blocks fill the SMs while chunk c drains its last
//             tiles, and chunk c's results can leave while c+1 computes.
//   pieces    results leave in pieces of <= 1 Mi samples: the copy stream waits
//             for the piece's chunk, copies it into one of 3 pinned staging
//             slots, and the host moves it into the caller's buffers, adds the
//             progress and polls cancellation while the next pieces copy and
//             later chunks compute. Kernel, PCIe copy and host memcpy overlap.
//   totals    after a round: one thrust::reduce_by_key over the round's counts,
//             keyed by job, gives every job's iteration total in one pass.
// Cancellation: polled whenever the host waits; a canceled job's flag is copied
// to the device on a separate stream, the warps skip (and zero) its remaining
// tiles, and its remaining pieces are not delivered.
#include "kernels/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/cuda_renderer.cuh"
#include "kernels/cuda/deep_runner.cuh"
#include "kernels/cuda/device_detect.cuh"
#include "kernels/cuda/device_memory.cuh"
#include "kernels/cuda/escape_device.cuh"
#include "kernels/cuda/stream.cuh"
#include "kernels/nvtx_range.h"
#include "kernels/renderer.h"

namespace fractal {
namespace cuda {
namespace {

// ---- Tuning -----------------------------------------------------------------
constexpr std::int64_t kMaxRoundSamples = std::int64_t{256} << 20;  // device budget cap: 1 GiB counts + 1 GiB mag2
constexpr std::int64_t kMinRoundSamples = std::int64_t{1} << 20;
constexpr std::int64_t kMaxJobSamples = std::int64_t{1} << 26;
constexpr std::int64_t kPieceSamples = std::int64_t{1} << 20;  // 4 MiB of counts per copy: PCIe at full speed
constexpr std::int64_t kMinChunkSamples = std::int64_t{2} << 20;
constexpr int kMaxChunks = 4;
constexpr int kStagingSlots = 3;  // one being drained by the host, two in flight on the copy engine
constexpr int kComputeStreams = 2;
constexpr int kMaxLaunchesPerRound = kMaxChunks * 2;  // a chunk holding both scalar types launches twice

// ---- Host side ----------------------------------------------------------------

struct BatchJob {
  RenderJob* job;
  std::int64_t samples, tiles;
  std::int64_t sample_begin, tile_begin;
  int segs;
  bool cancel_sent;  // the device has (or will have) its cancel flag
};

struct Piece {
  std::int64_t begin, end;  // batch samples
  int chunk;
  bool mag2;
};

class CudaRenderer final : public Renderer {
 public:
  explicit CudaRenderer(int device) : selection_(device) {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    name_ = std::string("cuda:") + prop.name;
    int clock_khz = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device));
    const double lanes_hz = static_cast<double>(prop.multiProcessorCount) * clock_khz * 1e3 / 4.0;
    peak_f32_ = lanes_hz * fp32_lanes_per_sm(prop.major, prop.minor);
    peak_f64_ = lanes_hz * fp64_lanes_per_sm(prop.major, prop.minor);

    // Persistent grids: exactly as many blocks as can be resident at once.
    blocks_f32_ = escape_blocks_per_sm(true) * prop.multiProcessorCount;
    blocks_f64_ = escape_blocks_per_sm(false) * prop.multiProcessorCount;
    if (blocks_f32_ <= 0 || blocks_f64_ <= 0) throw std::runtime_error("the escape kernel cannot be resident on " + name_);

    // Device budget: a quarter of the free memory, at most 256 Mi samples of
    // 8 bytes (count + mag2) per round.
    std::size_t free_bytes = 0, total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    round_capacity_ = std::clamp<std::int64_t>(static_cast<std::int64_t>(free_bytes / 4 / 8), kMinRoundSamples,
                                                kMaxRoundSamples);
  }

  ~CudaRenderer() override { CUDA_CHECK_NOTHROW(cudaSetDevice(selection_.device)); }

  CudaRenderer(const CudaRenderer&) = delete;
  CudaRenderer& operator=(const CudaRenderer&) = delete;

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] std::int64_t max_job_samples() const override { return std::min(round_capacity_, kMaxJobSamples); }
  [[nodiscard]] double peak_iterations_per_second(Scalar s) const override {
    return s == Scalar::f32 ? peak_f32_ : peak_f64_;
  }

  // Deep jobs: samples on this device (made on first use: its buffers are
  // sized by the first deep pass).
  [[nodiscard]] deep::SampleRunner* deep_sample_runner() override {
    if (!deep_runner_) {
      CUDA_CHECK(cudaSetDevice(selection_.device));
      deep_runner_ = std::make_unique<CudaSampleRunner>(selection_.device, name_);
    }
    return deep_runner_.get();
  }

  void render(std::span<RenderJob> jobs) override {
    NvtxRange range("batch");
    CUDA_CHECK(cudaSetDevice(selection_.device));
    plan(jobs);
    if (!batch_.empty()) {
      try {
        setup();
        for (std::int64_t t0 = 0; t0 < total_tiles_;) {
          poll_cancels();
          if (std::all_of(batch_.begin(), batch_.end(), [](const BatchJob& b) { return b.cancel_sent; })) break;
          const std::int64_t t1 = round_end(t0);
          render_round(t0, t1);
          t0 = t1;
        }
        CUDA_CHECK(cudaStreamSynchronize(control_.get()));
      } catch (...) {
        // Leave no work in flight that still writes into buffers of this call.
        for (auto& s : compute_) CUDA_CHECK_NOTHROW(cudaStreamSynchronize(s.get()));
        CUDA_CHECK_NOTHROW(cudaStreamSynchronize(copy_.get()));
        CUDA_CHECK_NOTHROW(cudaStreamSynchronize(control_.get()));
        throw;
      }
    }
    // As the CPU backend: a job whose cancel flag is set when the batch ends is canceled.
    for (RenderJob& j : jobs)
      if (j.cancel != nullptr && j.cancel->load()) j.canceled = true;
  }

 private:
  // ---- Planning ----

  void plan(std::span<RenderJob> jobs) {
    batch_.clear();
    total_samples_ = total_tiles_ = 0;
    f32_jobs_ = f32_tiles_ = 0;
    table_f32_ = table_f64_ = 0;
    batch_mag2_ = false;
    for (RenderJob& j : jobs) {
      j.iterations = 0;
      j.canceled = false;
    }
    for (Scalar pass : {Scalar::f32, Scalar::f64}) {
      for (RenderJob& j : jobs) {
        if (j.scalar != pass) continue;
        if (j.grid_width <= 0 || j.grid_height <= 0 || j.rows <= 0) continue;
        if (j.counts == nullptr) throw std::invalid_argument("RenderJob.counts is null");
        if (j.cancel != nullptr && j.cancel->load()) {
          j.canceled = true;
          continue;
        }
        const int segs = (j.grid_width + kTileColumns - 1) / kTileColumns;
        const std::int64_t samples = static_cast<std::int64_t>(j.rows) * j.grid_width;
        const std::int64_t tiles = static_cast<std::int64_t>(j.rows) * segs;
        batch_.push_back({&j, samples, tiles, total_samples_, total_tiles_, segs, false});
        total_samples_ += samples;
        total_tiles_ += tiles;
        if (pass == Scalar::f32) {
          ++f32_jobs_;
          f32_tiles_ += tiles;
        }
        batch_mag2_ = batch_mag2_ || j.mag2 != nullptr;
      }
    }
    if (batch_.empty()) return;

    const std::size_t n = batch_.size();
    h_jobs_.reserve(n);
    h_cancel_.reserve(n);
    h_keys_.reserve(n);
    h_sums_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const BatchJob& b = batch_[i];
      const RenderJob& j = *b.job;
      const bool julia = j.fractal == FractalKind::julia;
      JobDesc d{};
      d.sample_begin = b.sample_begin;
      d.tile_begin = b.tile_begin;
      d.center_re = j.center_re;
      d.center_im = j.center_im;
      d.scale = j.scale;
      d.c_re = j.julia_re;
      d.c_im = j.julia_im;
      d.grid_width = j.grid_width;
      d.grid_height = j.grid_height;
      d.row0 = j.row0;
      d.rows = j.rows;
      d.segs = b.segs;
      d.max_iter = std::max(0, j.max_iter);
      d.flags = (julia ? kJobJulia : 0u) |
                (!julia || j.julia_re * j.julia_re + j.julia_im * j.julia_im <= 4.0 ? kJobMonotone : 0u) |
                (j.mag2 != nullptr ? kJobMag2 : 0u);
      std::int64_t& table = j.scalar == Scalar::f32 ? table_f32_ : table_f64_;
      d.table_off = static_cast<unsigned>(table);
      table += static_cast<std::int64_t>(j.grid_width) + j.rows;
      if (table > std::int64_t{0xffffffff}) throw std::invalid_argument("batch too large for the CUDA coordinate tables");
      h_jobs_[i] = d;
      h_cancel_[i] = 0;
    }
  }

  // Batch sample at which tile t starts (total_samples_ for t == total_tiles_).
  [[nodiscard]] std::int64_t tile_sample(std::int64_t t) const {
    if (t >= total_tiles_) return total_samples_;
    auto it = std::upper_bound(batch_.begin(), batch_.end(), t,
                               [](std::int64_t v, const BatchJob& b) { return v < b.tile_begin; });
    --it;
    const std::int64_t local = t - it->tile_begin;
    const std::int64_t r = local / it->segs, seg = local % it->segs;
    return it->sample_begin + r * it->job->grid_width + seg * kTileColumns;
  }

  // First tile starting at or after batch sample s (total_tiles_ if none).
  [[nodiscard]] std::int64_t first_tile_from(std::int64_t s) const {
    std::int64_t lo = 0, hi = total_tiles_;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (tile_sample(mid) >= s) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  // The round starting at tile t0 ends before the first tile that would
  // take it past round_capacity_ samples.
  [[nodiscard]] std::int64_t round_end(std::int64_t t0) const {
    const std::int64_t limit = tile_sample(t0) + round_capacity_;
    if (total_samples_ <= limit) return total_tiles_;
    return std::max(t0 + 1, first_tile_from(limit + 1) - 1);
  }

  // ---- Setup ----

  void setup() {
    NvtxRange range("setup");
    const std::size_t n = batch_.size();
    cudaStream_t s = compute_[0].get();
    d_jobs_.reserve(n);
    d_cancel_.reserve(n);
    d_keys_.reserve(n);
    d_sums_.reserve(n);
    d_counters_.reserve(kMaxLaunchesPerRound);
    CUDA_CHECK(cudaMemcpyAsync(d_jobs_.get(), h_jobs_.get(), n * sizeof(JobDesc), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemsetAsync(d_cancel_.get(), 0, n * sizeof(int), s));
    const int f64_jobs = static_cast<int>(n) - f32_jobs_;
    if (table_f32_ > 0) {
      d_table_f32_.reserve(static_cast<std::size_t>(table_f32_));
      fill_coordinates(true, scratch_, s, d_jobs_.get(), 0, f32_jobs_, d_table_f32_.get(), table_f32_);
    }
    if (table_f64_ > 0) {
      d_table_f64_.reserve(static_cast<std::size_t>(table_f64_));
      fill_coordinates(false, scratch_, s, d_jobs_.get(), f32_jobs_, f64_jobs, d_table_f64_.get(), table_f64_);
    }
    // Cancel flags sent later on the control stream must land after the memset.
    CUDA_CHECK(cudaEventRecord(setup_done_.get(), s));
    CUDA_CHECK(cudaStreamWaitEvent(control_.get(), setup_done_.get(), 0));
  }

  // ---- One round ----

  void render_round(std::int64_t t0, std::int64_t t1) {
    const std::int64_t s0 = tile_sample(t0), s1 = tile_sample(t1);
    const std::int64_t n = s1 - s0;
    d_counts_.reserve(static_cast<std::size_t>(n));
    if (batch_mag2_) d_mag2_.reserve(static_cast<std::size_t>(n));

    // Chunks: tile ranges of about equal samples.
    const int chunks = static_cast<int>(std::clamp<std::int64_t>(n / kMinChunkSamples, 1, kMaxChunks));
    std::array<std::int64_t, kMaxChunks + 1> bound{};
    int nchunks = 0;
    bound[0] = t0;
    for (int c = 1; c <= chunks; ++c) {
      const std::int64_t t = c == chunks ? t1 : std::clamp(first_tile_from(s0 + n * c / chunks), t0, t1);
      if (t > bound[nchunks]) bound[++nchunks] = t;
    }

    cudaStream_t s_main = compute_[0].get();
    CUDA_CHECK(cudaMemsetAsync(d_counters_.get(), 0, kMaxLaunchesPerRound * sizeof(unsigned), s_main));
    CUDA_CHECK(cudaEventRecord(round_ready_.get(), s_main));
    for (int i = 1; i < kComputeStreams; ++i)
      CUDA_CHECK(cudaStreamWaitEvent(compute_[i].get(), round_ready_.get(), 0));
    {
      NvtxRange range("kernel");
      int launch = 0;
      for (int c = 0; c < nchunks; ++c) {
        cudaStream_t s = compute_[c % kComputeStreams].get();
        const std::int64_t a = bound[c], b = bound[c + 1];
        if (a < f32_tiles_) launch_tiles<float>(s, launch++, a, std::min(b, f32_tiles_), s0);
        if (b > f32_tiles_) launch_tiles<double>(s, launch++, std::max(a, f32_tiles_), b, s0);
        CUDA_CHECK(cudaEventRecord(chunk_done_[c].get(), s));
      }
    }

    // Pieces: the chunks' sample ranges in slices of at most one staging slot.
    const std::int64_t stride = std::min(kPieceSamples, n);
    h_counts_.reserve(static_cast<std::size_t>(stride * kStagingSlots));
    if (batch_mag2_) h_mag2_.reserve(static_cast<std::size_t>(stride * kStagingSlots));
    pieces_.clear();
    for (int c = 0; c < nchunks; ++c) {
      const std::int64_t end = tile_sample(bound[c + 1]);
      for (std::int64_t p = tile_sample(bound[c]); p < end; p += stride) {
        const std::int64_t q = std::min(end, p + stride);
        pieces_.push_back({p, q, c, batch_mag2_ && piece_wants_mag2(p, q)});
      }
    }
    const std::size_t npieces = pieces_.size();
    for (std::size_t p = 0; p < std::min<std::size_t>(kStagingSlots, npieces); ++p) issue_piece(p, s0, stride);
    for (std::size_t p = 0; p < npieces; ++p) {
      const int slot = static_cast<int>(p % kStagingSlots);
      wait_polling(slot_done_[slot].get());
      deliver_piece(pieces_[p], slot, stride);
      if (p + kStagingSlots < npieces) issue_piece(p + kStagingSlots, s0, stride);
    }

    // Totals of this round, one pass over its counts. Every kernel is done
    // (all pieces arrived); the waits make the order explicit to the device.
    NvtxRange range("reduce");
    for (int c = 0; c < nchunks; ++c) CUDA_CHECK(cudaStreamWaitEvent(s_main, chunk_done_[c].get(), 0));
    const std::size_t runs = reduce_counts_by_job(scratch_, s_main, d_jobs_.get(), static_cast<int>(batch_.size()), s0,
                                                  n, d_counts_.get(), d_keys_.get(), d_sums_.get());
    CUDA_CHECK(cudaMemcpyAsync(h_keys_.get(), d_keys_.get(), runs * sizeof(int), cudaMemcpyDeviceToHost, s_main));
    CUDA_CHECK(cudaMemcpyAsync(h_sums_.get(), d_sums_.get(), runs * sizeof(unsigned long long),
                               cudaMemcpyDeviceToHost, s_main));
    CUDA_CHECK(cudaStreamSynchronize(s_main));
    for (std::size_t r = 0; r < runs; ++r) batch_[static_cast<std::size_t>(h_keys_[r])].job->iterations += h_sums_[r];
  }

  template <class T>
  void launch_tiles(cudaStream_t stream, int launch, std::int64_t ta, std::int64_t tb, std::int64_t s0) {
    if (tb <= ta) return;
    const bool f32 = std::is_same_v<T, float>;
    const int f64_jobs = static_cast<int>(batch_.size()) - f32_jobs_;
    LaunchArgs args{};
    args.jobs = d_jobs_.get();
    args.job_first = f32 ? 0 : f32_jobs_;
    args.job_count = f32 ? f32_jobs_ : f64_jobs;
    args.table = f32 ? static_cast<const void*>(d_table_f32_.get()) : static_cast<const void*>(d_table_f64_.get());
    args.cancel = d_cancel_.get();
    args.counter = d_counters_.get() + launch;
    args.tile_begin = ta;
    args.tile_count = static_cast<unsigned>(tb - ta);
    args.round_sample_begin = s0;
    args.counts = d_counts_.get();
    args.mag2 = d_mag2_.get();
    // No more blocks than it takes to give every warp one tile.
    const std::int64_t warps_per_block = kBlockThreads / kWarpLanes;
    const std::int64_t wanted = (tb - ta + warps_per_block - 1) / warps_per_block;
    launch_escape_tiles(f32, stream, static_cast<unsigned>(std::min<std::int64_t>(f32 ? blocks_f32_ : blocks_f64_, wanted)),
                        args);
  }

  [[nodiscard]] std::size_t first_job_ending_after(std::int64_t s) const {
    auto it = std::upper_bound(batch_.begin(), batch_.end(), s,
                               [](std::int64_t v, const BatchJob& b) { return v < b.sample_begin + b.samples; });
    return static_cast<std::size_t>(it - batch_.begin());
  }

  [[nodiscard]] bool piece_wants_mag2(std::int64_t a, std::int64_t b) const {
    for (std::size_t i = first_job_ending_after(a); i < batch_.size() && batch_[i].sample_begin < b; ++i)
      if (batch_[i].job->mag2 != nullptr) return true;
    return false;
  }

  void issue_piece(std::size_t p, std::int64_t s0, std::int64_t stride) {
    const Piece& piece = pieces_[p];
    const std::size_t slot = p % kStagingSlots;
    const auto count = static_cast<std::size_t>(piece.end - piece.begin);
    const auto src = static_cast<std::size_t>(piece.begin - s0);
    const std::size_t dst = slot * static_cast<std::size_t>(stride);
    cudaStream_t s = copy_.get();
    CUDA_CHECK(cudaStreamWaitEvent(s, chunk_done_[piece.chunk].get(), 0));
    CUDA_CHECK(cudaMemcpyAsync(h_counts_.get() + dst, d_counts_.get() + src, count * sizeof(std::uint32_t),
                               cudaMemcpyDeviceToHost, s));
    if (piece.mag2)
      CUDA_CHECK(cudaMemcpyAsync(h_mag2_.get() + dst, d_mag2_.get() + src, count * sizeof(float),
                                 cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaEventRecord(slot_done_[slot].get(), s));
  }

  // Moves a piece from its staging slot into the callers' buffers.
  void deliver_piece(const Piece& piece, int slot, std::int64_t stride) {
    NvtxRange range("copy");
    const std::uint32_t* counts = h_counts_.get() + static_cast<std::size_t>(slot) * stride;
    const float* mag2 = piece.mag2 ? h_mag2_.get() + static_cast<std::size_t>(slot) * stride : nullptr;
    for (std::size_t i = first_job_ending_after(piece.begin);
         i < batch_.size() && batch_[i].sample_begin < piece.end; ++i) {
      const BatchJob& b = batch_[i];
      if (b.cancel_sent) continue;
      const std::int64_t a = std::max(piece.begin, b.sample_begin);
      const std::int64_t e = std::min(piece.end, b.sample_begin + b.samples);
      const auto len = static_cast<std::size_t>(e - a);
      const auto from = static_cast<std::size_t>(a - piece.begin);
      const auto to = static_cast<std::size_t>(a - b.sample_begin);
      std::memcpy(b.job->counts + to, counts + from, len * sizeof(std::uint32_t));
      if (b.job->mag2 != nullptr) std::memcpy(b.job->mag2 + to, mag2 + from, len * sizeof(float));
      if (b.job->progress != nullptr) b.job->progress->fetch_add(len, std::memory_order_relaxed);
    }
  }

  // Sends newly set cancel flags to the device (one small copy each; the
  // pinned source entry is never written again during this batch).
  void poll_cancels() {
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      BatchJob& b = batch_[i];
      if (b.cancel_sent || b.job->cancel == nullptr || !b.job->cancel->load(std::memory_order_relaxed)) continue;
      b.cancel_sent = true;
      h_cancel_[i] = 1;
      CUDA_CHECK(cudaMemcpyAsync(d_cancel_.get() + i, h_cancel_.get() + i, sizeof(int), cudaMemcpyHostToDevice,
                                 control_.get()));
    }
  }

  // Waits for an event, polling cancellation meanwhile: yields for the first
  // ~2 ms (pieces usually arrive sooner), then sleeps in short steps so a long
  // deep-zoom chunk does not keep a core spinning.
  void wait_polling(cudaEvent_t event) {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      const cudaError_t status = cudaEventQuery(event);
      if (status == cudaSuccess) return;
      if (status != cudaErrorNotReady) CUDA_CHECK(status);
      poll_cancels();
      if (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2)) std::this_thread::yield();
      else std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  DeviceSelection selection_;
  std::string name_;
  double peak_f32_ = 0, peak_f64_ = 0;
  int blocks_f32_ = 0, blocks_f64_ = 0;
  std::int64_t round_capacity_ = kMinRoundSamples;

  std::array<Stream, kComputeStreams> compute_;
  Stream copy_;     // device -> host results
  Stream control_;  // host -> device cancel flags, concurrent with running kernels
  Event setup_done_, round_ready_;
  std::array<Event, kMaxChunks> chunk_done_;
  std::array<Event, kStagingSlots> slot_done_;

  ThrustScratch scratch_;
  DeviceArray<JobDesc> d_jobs_;
  DeviceArray<int> d_cancel_;
  DeviceArray<unsigned> d_counters_;
  DeviceArray<float> d_table_f32_;
  DeviceArray<double> d_table_f64_;
  DeviceArray<std::uint32_t> d_counts_;
  DeviceArray<float> d_mag2_;
  DeviceArray<int> d_keys_;
  DeviceArray<unsigned long long> d_sums_;
  PinnedArray<JobDesc> h_jobs_;
  PinnedArray<int> h_cancel_;
  PinnedArray<int> h_keys_;
  PinnedArray<unsigned long long> h_sums_;
  PinnedArray<std::uint32_t> h_counts_;  // staging slots
  PinnedArray<float> h_mag2_;

  std::unique_ptr<CudaSampleRunner> deep_runner_;

  // The current batch.
  std::vector<BatchJob> batch_;
  std::vector<Piece> pieces_;
  std::int64_t total_samples_ = 0, total_tiles_ = 0;
  int f32_jobs_ = 0;
  std::int64_t f32_tiles_ = 0;
  std::int64_t table_f32_ = 0, table_f64_ = 0;
  bool batch_mag2_ = false;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<Renderer> make_cuda_renderer(const RendererOptions& options) {
  std::string why;
  if (!cuda_device_present(&why)) throw BackendUnavailable("CUDA backend unavailable: " + why);
  try {
    int count = 0;
    CUDA_CHECK(cudaGetDeviceCount(&count));
    if (options.device < 0 || options.device >= count)
      throw BackendUnavailable("CUDA backend unavailable: device " + std::to_string(options.device) + " requested, " +
                               std::to_string(count) + " present");
    const int cc = cuda::compute_capability(options.device);
    if (cc < cuda::kMinComputeCapability)
      throw BackendUnavailable("CUDA backend unavailable: device " + std::to_string(options.device) +
                               " has compute capability " + std::to_string(cc / 10) + "." + std::to_string(cc % 10) +
                               "; this build needs 7.5 or newer");
    return std::make_unique<cuda::CudaRenderer>(options.device);
  } catch (const BackendUnavailable&) {
    throw;
  } catch (const std::exception& e) {
    // A device that is present but cannot be used (exclusive mode, out of memory, ...).
    throw BackendUnavailable(std::string("CUDA backend unavailable: ") + e.what());
  }
}

}  // namespace fractal
