// Deep zoom renders (precision "deep"): views finer than double resolves, down
// to scale 1e-10000. A reference orbit is computed in MPFR at the view's centre
// (exact from the decimal text of center and scale), every sample is iterated by
// perturbation against it (kernels/deep/perturbation.h, with rebasing), and
// samples that outlive a reference that escaped are rendered again against a
// reference taken at one of them. Reference orbits are cached per process, so a
// burst of renders of one view (palettes, re-renders, bands of a big task)
// computes each orbit once.
#pragma once

#include <atomic>
#include <cstdint>

#include "kernels/task_spec.h"

namespace fractal::deep {

struct DeepStats {
  int reference_length = 0;        // iterations of the (first) reference orbit
  int references = 0;              // orbits used (1 + re-references)
  int orbit_cache_hits = 0;
  std::uint64_t rebases = 0;       // summed over samples
  std::uint64_t iterations = 0;    // summed counts of the rendered samples
  std::uint64_t bla_skipped = 0;   // of those, iterations done by BLA steps (skip ratio = bla_skipped / iterations)
  std::uint64_t exhausted_left = 0;  // samples still past an escaped reference after all re-references
  double orbit_seconds = 0;        // in MPFR
  double pixel_seconds = 0;        // perturbation
};

struct Band {
  int grid_width = 0, grid_height = 0;  // the whole sample grid (width*ss x height*ss)
  int row0 = 0, rows = 0;
  std::uint32_t* counts = nullptr;      // rows * grid_width
  float* mag2 = nullptr;                // optional
  const std::atomic<bool>* cancel = nullptr;
  std::atomic<std::uint64_t>* progress = nullptr;
};

// Renders one band of spec's sample grid on all cores; returns the sum of its
// counts. Sets `canceled` when cancel stopped it.
std::uint64_t render_band(const TaskSpec& spec, const Band& band, DeepStats& stats, bool& canceled);

}  // namespace fractal::deep
