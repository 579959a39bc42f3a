// The work of one persistent warp in the deep kernel: take the next chunk of
// 32 samples of the pass from a global queue, one sample per lane, iterate
// each by perturbation (iterate_sample, kernels/deep/sample_pass.h: the code
// the CPU runner runs), write its PixelResult, count the chunk as done.
//
// Why chunks of one sample per lane and not the lane refill of render_tiles:
// a deep sample is one call of iterate() (rebasing and BLA steps inside),
// which cannot stop at a service point without turning the iteration into a
// resumable state machine. Neighbouring samples of a row mostly take similar
// counts, so a warp's lanes finish close together; the queue keeps every warp
// busy until the pass runs out of chunks.
//
// Written against the Warp interface of cuda_renderer.cuh (lane, fetch_add,
// uniform_load), so the scheduling also runs on the host under an emulated
// warp (tests/kernels/cuda_deep_emulation.cu).
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_renderer.cuh"
#include "kernels/deep/sample_pass.h"

namespace fractal::cuda {

// One launch: the whole pass. Pointers in `pass` (orbit, BLA table, sample
// list) and below are device pointers.
struct DeepLaunchArgs {
  deep::SamplePass pass;
  unsigned* counter;         // the queue: next chunk of kWarpLanes samples
  unsigned* chunks_done;     // progress, read by the host while the kernel runs
  const int* cancel;         // nonzero: take no more chunks
  deep::PixelResult* out;    // out[q]: the pass's q-th sample
};

// Every lane of the warp calls this; it returns when the queue is empty or
// the pass was canceled (then the remaining out[] entries are not written).
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <class Warp>
__host__ __device__ void render_deep_samples(const DeepLaunchArgs& a, Warp& w) {
  const unsigned lane = w.lane();
  const unsigned long long chunks = (a.pass.count + kWarpLanes - 1) / kWarpLanes;
  for (;;) {
    if (w.uniform_load(a.cancel) != 0) return;
    const unsigned c = w.fetch_add(a.counter);
    if (c >= chunks) return;
    const unsigned long long q = static_cast<unsigned long long>(c) * kWarpLanes + lane;
    if (q < a.pass.count) a.out[q] = deep::iterate_sample(a.pass, deep::sample_index(a.pass, q));
    (void)w.fetch_add(a.chunks_done);  // after the writes of every lane (the warp reconverges here)
  }
}

}  // namespace fractal::cuda
