// The CPU runner's inner loop: the samples of a chunk iterated several at a
// time, in two stages.
// 1. Each sample is started and iterated in a group of four neighbours at
//    the same reference index (they start together, and neighbours' orbits
//    stay close: next to a minibrot they rebase together once a period), as
//    SIMD lanes, while every lane would take the same step on its own: in
//    phase 1 (dz in CExp) BLA steps with one climb through the levels and
//    one add(mul(A, dz), mul(B, dc)) in CExp; in phase 2 plain steps with one
//    Z_n, rebases, and BLA steps with one climb and one A dz + B dc.
// 2. Samples that left their group (a step of their own, or a group down to
//    two) go on four at a time, one sample a lane, each at its own reference
//    index: their plain phase-2 perturbation steps (dz in double, no BLA
//    probe, no rebase; the bulk of the work at c = i, 1e-100..1e-300, where
//    counts are a few hundred to a few thousand) as SIMD lanes.
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
