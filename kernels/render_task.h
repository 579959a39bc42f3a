// From TaskSpecs to finished image buffers: cuts each task's sample grid into
// bands, renders the bands of all tasks together on one Renderer (one batch
// per round), and colours (or copies counts of) each band into the output.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "kernels/deep/deep_render.h"
#include "kernels/image/image_buffer.h"
#include "kernels/renderer.h"
#include "kernels/task_spec.h"

namespace fractal {

struct TaskRun {
  explicit TaskRun(const TaskSpec& s) : spec(s) {}
  const TaskSpec& spec;

  // Control and progress, safe to touch from other threads while rendering.
  std::atomic<bool> cancel{false};
  std::atomic<std::uint64_t> samples_done{0};
  std::atomic<std::uint64_t> samples_total{0};  // set when rendering starts
  // Reference-orbit iterations computed in MPFR (deep views), counted in steps
  // of 1024: work that finishes no sample (a 1e-10000 view's orbit of a million
  // iterations takes about a minute) but shows the render is alive.
  std::atomic<std::uint64_t> orbit_steps{0};
  std::atomic<std::uint64_t> orbit_steps_planned{0};  // a deep view's max_iter, set when rendering starts
  // 0..1. A deep view's first reference orbit is its first tenth (by iterations
  // against max_iter; a cached or early-escaping orbit is simply skipped over),
  // its samples the rest; any other view is its samples. Never goes backwards.
  [[nodiscard]] double progress() const {
    const auto total = samples_total.load();
    if (total == 0) return 0.0;
    const auto done = samples_done.load();
    const double samples = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const auto planned = orbit_steps_planned.load();
    if (planned == 0) return samples;
    if (done > 0) return kOrbitShare + (1.0 - kOrbitShare) * samples;
    return kOrbitShare * std::min(1.0, static_cast<double>(orbit_steps.load()) / static_cast<double>(planned));
  }
  static constexpr double kOrbitShare = 0.1;
  // Grows while the render works, whatever it works on: the worker's liveness.
  [[nodiscard]] std::uint64_t activity() const { return samples_done.load() + orbit_steps.load(); }

  // Results.
  ImageBuffer image;             // RGB (u8 or u16) for images, one f32 channel for iterations
  std::uint64_t iterations = 0;  // sum of all sample counts
  Scalar scalar = Scalar::f64;   // precision used
  bool canceled = false;
  deep::DeepStats deep;          // reference orbit and perturbation figures (scalar == deep)
};

struct RenderLimits {
  // Largest band of one task, in samples (each sample costs 8 bytes while banded):
  // 8 M samples keep a 67-megapixel PNG within about twice its output buffer.
  std::int64_t band_samples = std::int64_t{1} << 23;
};

// Renders every task. Histogram colouring of a grid larger than one band makes
// two passes (the first only counts), so memory stays bounded by the output
// plus one band per task.
void render_tasks(Renderer& renderer, std::span<TaskRun* const> tasks, const RenderLimits& limits = {});

}  // namespace fractal
