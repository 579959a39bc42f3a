// Deep zoom renders (precision "deep"): views finer than double resolves, down
// to scale 1e-10000. A reference orbit is computed in MPFR at the view's centre
// (exact from the decimal text of center and scale), every sample is iterated by
// perturbation against it (kernels/deep/perturbation.h, with rebasing), and
// samples that outlive a reference that escaped are rendered again against a
// reference taken at one of them. Reference orbits are cached per process, so a
// burst of renders of one view (palettes, re-renders, bands of a big task)
// computes each orbit once; each orbit keeps its BLA tables. The per-sample
// work runs on a SampleRunner: the CPU's thread pool, or the CUDA backend's
// deep kernel (Renderer::deep_sample_runner), both running iterate_sample.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/deep/sample_pass.h"
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
  std::string runner;              // where the samples ran: "cpu" or "cuda:<device>"
};

struct Band {
  int grid_width = 0, grid_height = 0;  // the whole sample grid (width*ss x height*ss)
  int row0 = 0, rows = 0;
  std::uint32_t* counts = nullptr;      // rows * grid_width
  float* mag2 = nullptr;                // optional
  const std::atomic<bool>* cancel = nullptr;
  std::atomic<std::uint64_t>* progress = nullptr;
  std::atomic<std::uint64_t>* orbit_progress = nullptr;  // reference-orbit iterations computed (optional)
};

// Iterates the samples of one pass (kernels/deep/sample_pass.h): what a
// backend contributes to a deep render. The reference orbit, its BLA table,
// the choice of references and the statistics stay on the host, in
// render_band, whatever the runner.
class SampleRunner {
 public:
  struct Result {
    std::vector<std::uint32_t> exhausted;  // band indices of samples that outlived an escaped reference
    std::uint64_t rebases = 0;             // summed over the pass's samples
    std::uint64_t skipped = 0;             // BLA-skipped iterations of the samples not exhausted
    bool canceled = false;                 // band.cancel stopped the pass before its end
  };
  virtual ~SampleRunner() = default;
  // Writes band.counts[idx] (and band.mag2[idx] when set) for every sample of
  // the pass, adds finished samples to band.progress when count_progress, and
  // stops early once band.cancel is set. `tables` owns pass.bla and names the
  // pair (orbit, BLA table): a table belongs to one orbit for its whole life,
  // so while a runner holds the pointer, a copy it made of both (on a device)
  // stays current when the same pointer comes back. pass.orbit is valid
  // during the call.
  virtual Result run(const SamplePass& pass, const std::shared_ptr<const void>& tables, const Band& band,
                     bool count_progress) = 0;
  // "cpu" or "cuda:<device>": where the per-sample work ran.
  [[nodiscard]] virtual std::string name() const = 0;
};

// The CPU runner: every core, the process's shared thread pool, four samples
// at a time per thread (kernels/deep/sample_lanes.h).
SampleRunner& cpu_sample_runner();
// The same, one sample at a time per thread (iterate_sample): the reference
// the four-lane runner is tested against (same counts, rebases and BLA skips).
SampleRunner& cpu_sample_runner_one_by_one();

// For runners that compute a pass's PixelResults elsewhere (out[q] for the
// pass's q-th sample): writes them into the band and sums them into `result`
// the way the CPU runner does (rebases of every sample, BLA skips of samples
// not exhausted, exhausted samples listed by band index).
inline void deliver_pass(const SamplePass& pass, const PixelResult* out, const Band& band, SampleRunner::Result& result) {
  for (std::size_t q = 0; q < pass.count; ++q) {
    const PixelResult& p = out[q];
    const std::uint32_t idx = sample_index(pass, q);
    band.counts[idx] = p.count;
    if (band.mag2) band.mag2[idx] = p.mag2;
    result.rebases += p.rebases;
    if (p.exhausted) result.exhausted.push_back(idx);
    else result.skipped += p.skipped;
  }
}

// Renders one band of spec's sample grid; returns the sum of its counts. Sets
// `canceled` when cancel stopped it. The samples run on `runner` (null: the CPU).
std::uint64_t render_band(const TaskSpec& spec, const Band& band, DeepStats& stats, bool& canceled,
                          SampleRunner* runner = nullptr);

}  // namespace fractal::deep
