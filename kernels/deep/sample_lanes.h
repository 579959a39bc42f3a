// The CPU runner's inner loop: the samples of a chunk iterated several at a
// time, in two stages.
// 1. Each sample is started (phase 1 on the scalar path) and its first BLA
//    steps in phase 2 are taken in groups of four neighbours at the same
//    reference index (they start together, and neighbours' |dz| = |dc| are
//    close): one climb through the BLA levels and one A dz + B dc, as SIMD
//    lanes, while every lane would take that same step on its own.
// 2. Their plain phase-2 perturbation steps (dz in double, no BLA probe, no
//    rebase; the bulk of the work at 1e-100..1e-300, where counts are a few
//    hundred to a few thousand) as SIMD lanes, one sample a lane, each at its
//    own reference index.
// Everything else (phase 1, later BLA steps, rebases, the step that settles a
// sample, hand-backs to phase 1) runs the shared scalar code of
// kernels/deep/perturbation.h from the lane's state, so the counts, rebases and
// BLA skips are the ones iterate_sample gives, bit for bit (same operations in
// the same order, no FMA contraction).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/deep/sample_pass.h"

namespace fractal::deep {

// Receives each finished sample: its band index and result.
class SampleSink {
 public:
  virtual void done(std::uint32_t idx, const PixelResult& result) = 0;

 protected:
  ~SampleSink() = default;
};

// Iterates the pass's samples q in [first, last) (any order of completion).
void iterate_samples_in_lanes(const SamplePass& pass, std::size_t first, std::size_t last, SampleSink& sink);

// The same, one sample after the other with iterate_sample: the reference the lanes are tested against.
void iterate_samples_one_by_one(const SamplePass& pass, std::size_t first, std::size_t last, SampleSink& sink);

}  // namespace fractal::deep
