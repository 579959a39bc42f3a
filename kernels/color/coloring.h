// Turns iteration counts of a sample grid into colours: smooth (continuous),
// bands or histogram equalisation, palette lookup, ss x ss box averaging.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/image/image_buffer.h"
#include "kernels/task_spec.h"

namespace fractal {

class Colorizer {
 public:
  explicit Colorizer(const TaskSpec& spec);

  // Smooth colouring needs |z|^2 at escape from the renderer.
  [[nodiscard]] bool needs_mag2() const;
  // Histogram colouring needs every count of the whole grid before colouring.
  [[nodiscard]] bool needs_histogram() const;

  // Histogram: feed every sample's count (any order, any number of calls), then finish.
  void add_to_histogram(const std::uint32_t* counts, std::size_t n);
  void finish_histogram();

  // The pixel type the output image uses for the spec's format
  // (u8 for png/jpg, u16 for tiff/exr).
  [[nodiscard]] PixelType pixel_type() const;

  // Colours output pixel rows [pixel_row0, pixel_row0 + pixel_rows) of `out`
  // (RGB, out.type == pixel_type()) from the band of samples that covers them:
  // counts/mag2 hold (pixel_rows * ss) grid rows of width * ss samples each.
  // Inside points (count == max_iter) are black. Thread-safe for disjoint rows.
  void colour_rows(const std::uint32_t* counts, const float* mag2, int pixel_row0, int pixel_rows,
                   ImageBuffer& out) const;

 private:
  const TaskSpec& spec_;
  std::vector<std::uint64_t> histogram_;  // escaped samples per count
  std::vector<float> cdf_;                // normalised cumulative histogram
  std::vector<float> lut_;                // palette lookup, RGB floats 0..1
  // Both LUTs hold lut_size_ + 3 entries of 4 floats (r, g, b, pad): entry
  // lut_size_ repeats entry 0 (the cyclic wrap), the last two are black (inside
  // samples point there), so a lookup may always read entry e + 1. Stop s sits
  // exactly on entry s * lut_per_stop_.
  std::vector<float> lut_linear_;  // the same gradient in linear light, for averaging
  std::vector<float> to_srgb_;     // linear 0..1 -> sRGB 0..1 in even steps (+1 spare entry)
  int lut_size_ = 0;
  int lut_per_stop_ = 0;
  int stops_ = 0;
  int ss_ = 1;
  std::uint32_t max_iter_ = 1;
};

}  // namespace fractal
