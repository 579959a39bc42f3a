// The backend interface: renders a batch of jobs (bands of sample grids) at once.
// Backends register only in kernels/registry.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include "kernels/task_spec.h"

namespace fractal {

namespace deep {
class SampleRunner;
}

// One band of rows of a task's sample grid. The sample grid of a task with
// supersample s is (width*s) x (height*s) with the same centre and scale, so
// sample (a, b) of pixel (i, j) is grid point (i*s + a, j*s + b) and the
// API's pixel mapping applies to the grid unchanged.
struct RenderJob {
  FractalKind fractal = FractalKind::mandelbrot;
  double center_re = 0, center_im = 0, scale = 3.0;
  double julia_re = 0, julia_im = 0;
  int grid_width = 0, grid_height = 0;  // the whole sample grid
  int row0 = 0, rows = 0;               // this band: grid rows [row0, row0 + rows)
  int max_iter = 500;
  Scalar scalar = Scalar::f64;

  // Outputs, row-major, rows * grid_width each, owned by the caller.
  std::uint32_t* counts = nullptr;  // required: min(max_iter, escape k)
  float* mag2 = nullptr;            // optional: |z_k|^2 at escape (smooth colouring)

  // Control, shared with the caller; may be null.
  const std::atomic<bool>* cancel = nullptr;    // polled between tiles
  std::atomic<std::uint64_t>* progress = nullptr;  // += samples finished, per tile

  // Results, written by the backend.
  std::uint64_t iterations = 0;  // sum of counts over the band
  bool canceled = false;         // true when cancel stopped it before the end
};

// Thrown when a requested backend cannot be made (no device, not built).
class BackendUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Renderer {
 public:
  virtual ~Renderer() = default;
  // "cpu:avx512 x2" or "cuda:NVIDIA H100 80GB HBM3": what the task's backend field shows.
  [[nodiscard]] virtual std::string name() const = 0;
  // Renders every job; returns when each is finished or canceled. Tiles of all
  // jobs share one work queue, so many small jobs fill the machine. One call at a time.
  virtual void render(std::span<RenderJob> jobs) = 0;
  // Largest number of samples the backend wants in one job (bands are cut to it).
  [[nodiscard]] virtual std::int64_t max_job_samples() const { return std::int64_t{1} << 24; }
  // The device's bound in iterations per second (GPU: SMs x 128 lanes x clock / 4
  // instructions per float iteration, half that for double); 0 when not meaningful.
  [[nodiscard]] virtual double peak_iterations_per_second(Scalar) const { return 0.0; }
  // Where the per-sample work of deep jobs (Scalar::deep) runs: the backend's
  // own runner, or null for the CPU one (kernels/deep/deep_render.h). The
  // reference orbit and BLA tables are computed on the host either way. Not
  // to be used while render() runs.
  [[nodiscard]] virtual deep::SampleRunner* deep_sample_runner() { return nullptr; }
};

enum class BackendKind { automatic, cpu, cuda };

struct RendererOptions {
  int threads = 0;  // CPU threads; 0 = all cores
  int device = 0;   // CUDA device ordinal
};

// auto: CUDA when a device is present, else CPU. cpu/cuda: that backend or
// BackendUnavailable with the reason.
[[nodiscard]] std::unique_ptr<Renderer> make_renderer(BackendKind kind, const RendererOptions& options = {});
[[nodiscard]] bool cuda_backend_built();
// Parses "auto" | "cpu" | "cuda"; nullopt otherwise.
[[nodiscard]] std::optional<BackendKind> parse_backend(std::string_view text);

}  // namespace fractal
