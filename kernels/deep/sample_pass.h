// One pass of the deep renderer: a list of samples of one band, each iterated
// by perturbation against one reference orbit with its BLA table. The host
// (kernels/deep/deep_render.cpp) prepares the pass; a SampleRunner iterates
// its samples: the CPU one on a thread pool, the CUDA one in a kernel
// (kernels/cuda/deep_tiles.cuh). Both call iterate_sample, so a sample's
// offset and orbit are the same code on both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/deep/perturbation.h"
#include "kernels/grid_map.h"
#include "kernels/host_device.h"

namespace fractal::deep {

struct SamplePass {
  OrbitView orbit;  // pointers into host memory (a runner may copy them to its device)
  BlaView bla;
  bool julia = false;
  int max_iter = 0;
  // scale = scale_m * 2^scale_e; the reference point sits at ref_offset from the view's centre.
  double scale_m = 0;
  int scale_e = 0;
  CExp ref_offset;
  int grid_width = 0, grid_height = 0;  // the whole sample grid
  int row0 = 0;                         // the band's first row
  // The samples: indices into the band (row-major, rows * grid_width), or
  // null for every sample of the band in order.
  const std::uint32_t* only = nullptr;
  std::size_t count = 0;
};

// Offset of grid point (gi, gj) from the view's centre: docs/api.md's pixel
// formula (kernels/grid_map.h) with the scale as mantissa and exponent.
FRACTAL_HD inline CExp grid_offset(const SamplePass& p, int gi, int gj) {
  return normalized(grid_re_fraction(p.grid_width, gi) * p.scale_m,
                    grid_im_fraction(p.grid_width, p.grid_height, gj) * p.scale_m, p.scale_e);
}

// Band index of the pass's q-th sample.
FRACTAL_HD inline std::uint32_t sample_index(const SamplePass& p, std::size_t q) {
  return p.only != nullptr ? p.only[q] : static_cast<std::uint32_t>(q);
}

// The sample at band index idx as iterate() takes it: dz0 (Julia: the
// pixel's offset from the reference; Mandelbrot: 0) and dc (Mandelbrot: the
// offset; Julia: 0).
FRACTAL_HD inline void sample_start(const SamplePass& p, std::uint32_t idx, CExp& dz0, CExp& dc) {
  const unsigned w = static_cast<unsigned>(p.grid_width);
  const int gi = static_cast<int>(idx % w);
  const int gj = p.row0 + static_cast<int>(idx / w);
  const CExp d = add(grid_offset(p, gi, gj), CExp{-p.ref_offset.re, -p.ref_offset.im, p.ref_offset.e});
  dz0 = p.julia ? d : CExp{};
  dc = p.julia ? CExp{} : d;
}

// Iterates the sample at band index idx against the pass's reference.
FRACTAL_HD inline PixelResult iterate_sample(const SamplePass& p, std::uint32_t idx) {
  CExp dz0, dc;
  sample_start(p, idx, dz0, dc);
  return iterate(p.orbit, p.bla, dz0, dc, p.max_iter);
}

}  // namespace fractal::deep
