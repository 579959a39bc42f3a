// Writes ImageBuffers through OpenImageIO: to a temporary name in the target's
// directory, then rename, so no half-written file is ever visible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kernels/image/image_buffer.h"
#include "kernels/task_spec.h"

namespace fractal {

struct WriteOptions {
  int png_compression = 1;  // zlib level 0-9; 1 is ~4x faster than the default 6
  int jpeg_quality = 92;    // 1-100
  // true: write a temp name beside `path`, fsync, rename, fsync the directory
  // (a reader never sees half a file). false: write `path` itself and fsync it;
  // the caller already writes to a private temp name and renames it (the
  // worker's image store, which syncs the directory once per group).
  bool atomic = true;
};

struct WriteResult {
  bool ok = false;
  std::string error;        // set when !ok
  std::uint64_t bytes = 0;  // size of the written file
};

// RGB buffers: png/jpg 8-bit, tiff 16-bit, exr half RGB.
// One-channel f32 buffers (iteration counts): tiff float32, exr float32 channel "N".
[[nodiscard]] WriteResult write_image(const ImageBuffer& image, ImageFormat format, const std::string& path,
                                      const WriteOptions& options = {});

// Format from a path's extension (.png, .jpg/.jpeg, .tif/.tiff, .exr); nullopt if unknown.
[[nodiscard]] std::optional<ImageFormat> format_from_path(const std::string& path);

}  // namespace fractal
