#include "kernels/image/image_writer.h"
#include "kernels/nvtx_range.h"
#include "runtime/durable_file.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <vector>

#include <OpenImageIO/imageio.h>

// Formats written:
// - png: RGB 8-bit, zlib level options.png_compression.
// - jpg: RGB 8-bit, quality options.jpeg_quality.
// - tiff: RGB 16-bit, or float32 iteration counts in one channel. Deflate at
//   level 1 ("zip:1"; OIIO adds the horizontal / floating-point predictor).
//   Measured on a 4096^2 RGB16 render: zip:1 ~1 s / 24 MB, lzw ~1 s / 33 MB,
//   zip (level 6) ~3 s / 18 MB.
// - exr: RGB half, or float32 iteration counts in one channel "N"; "zip:1"
//   (lossless; 4096^2 RGB: zip:1 0.85 s / 15 MB, piz 1.0 s / 22 MB, zip 1.2 s / 12 MB).
//   EXR holds linear light by convention, so the sRGB-encoded colour buffer is
//   decoded to linear before it is stored (viewers re-encode it for display);
//   png/jpg/tiff keep sRGB code values.
// Every file is written to `.<name>.tmp-<pid>-<random>.<ext>` next to the target
// (the extension last, so OIIO picks the right plugin), synced, then renamed
// over the target: readers never see a half-written file.
namespace fractal {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDeflate = "zip:1";  // tiff and exr: deflate, fastest level

OIIO::TypeDesc type_of(PixelType t) {
  switch (t) {
    case PixelType::u8: return OIIO::TypeDesc::UINT8;
    case PixelType::u16: return OIIO::TypeDesc::UINT16;
    case PixelType::f32: return OIIO::TypeDesc::FLOAT;
  }
  return OIIO::TypeDesc::UNKNOWN;
}

WriteResult fail(std::string message) {
  WriteResult r;
  r.error = std::move(message);
  return r;
}

// `.<name>.tmp-<pid>-<random>.<ext>` beside the target: the extension last, so
// OIIO picks the right plugin.
fs::path temp_path_for(const fs::path& target, ImageFormat format) {
  std::string prefix(1, '.');
  prefix.append(target.filename().string().substr(0, 140)).append(".tmp-").append(std::to_string(::getpid())).append(1, '-');
  std::string suffix(1, '.');
  suffix.append(file_extension(format));
  return files::unique_name(target.parent_path(), prefix, suffix);
}

float srgb_to_linear(float c) {
  return c <= 0.04045f ? c / 12.92f : std::pow((c + 0.055f) / 1.055f, 2.4f);
}

// u16 sRGB code value -> linear light, built once.
const std::vector<float>& srgb16_to_linear_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (int i = 0; i < 65536; ++i) t[i] = srgb_to_linear(static_cast<float>(i) / 65535.0f);
    return t;
  }();
  return table;
}

// Writes sRGB colour rows as linear floats (EXR stores linear light), a block of rows at a time.
bool write_linear_rgb(OIIO::ImageOutput& out, const ImageBuffer& image) {
  constexpr int kBlock = 64;  // a multiple of the EXR zip/piz block heights (16, 32)
  const std::size_t row_values = static_cast<std::size_t>(image.width) * 3;
  std::vector<float> block(row_values * kBlock);
  const auto& table16 = srgb16_to_linear_table();
  for (int y0 = 0; y0 < image.height; y0 += kBlock) {
    const int rows = std::min(kBlock, image.height - y0);
    for (int r = 0; r < rows; ++r) {
      float* dst = block.data() + row_values * r;
      switch (image.type) {
        case PixelType::u8: {
          const auto* src = image.row<std::uint8_t>(y0 + r);
          for (std::size_t i = 0; i < row_values; ++i) dst[i] = table16[src[i] * 257u];
          break;
        }
        case PixelType::u16: {
          const auto* src = image.row<std::uint16_t>(y0 + r);
          for (std::size_t i = 0; i < row_values; ++i) dst[i] = table16[src[i]];
          break;
        }
        case PixelType::f32: {
          const auto* src = image.row<float>(y0 + r);
          for (std::size_t i = 0; i < row_values; ++i) dst[i] = srgb_to_linear(std::clamp(src[i], 0.0f, 1.0f));
          break;
        }
      }
    }
    if (!out.write_scanlines(y0, y0 + rows, 0, OIIO::TypeDesc::FLOAT, block.data())) return false;
  }
  return true;
}

}  // namespace

WriteResult write_image(const ImageBuffer& image, ImageFormat format, const std::string& path,
                        const WriteOptions& options) {
  const NvtxRange range("encode");
  if (image.width <= 0 || image.height <= 0) return fail("image has no pixels");
  if (image.channels != 1 && image.channels != 3)
    return fail("image has " + std::to_string(image.channels) + " channels; 1 or 3 are supported");
  if (image.data.size() != image.row_bytes() * static_cast<std::size_t>(image.height))
    return fail("image buffer size does not match its dimensions");
  const bool counts = image.channels == 1;
  if (counts && (format == ImageFormat::png || format == ImageFormat::jpg))
    return fail("iteration counts (one float channel) need tiff or exr, not " + std::string(file_extension(format)));
  if (counts && image.type != PixelType::f32) return fail("one-channel images must be float32");
  if (path.empty()) return fail("empty output path");

  const fs::path target(path);
  if (target.filename().empty()) return fail("output path names a directory: " + path);
  files::TempFile tmp(options.atomic ? temp_path_for(target, format) : target);

  // The writer is chosen by format, not by the file name: a caller's temp name
  // may end in anything (the image store's end in ".tmp").
  auto out = OIIO::ImageOutput::create("image." + std::string(file_extension(format)));
  if (!out) return fail("no OpenImageIO writer for " + std::string(file_extension(format)) + ": " + OIIO::geterror());

  OIIO::ImageSpec spec;
  switch (format) {
    case ImageFormat::png:
      spec = OIIO::ImageSpec(image.width, image.height, 3, OIIO::TypeDesc::UINT8);
      spec.attribute("png:compressionLevel", std::clamp(options.png_compression, 0, 9));
      spec.attribute("oiio:ColorSpace", "sRGB");
      break;
    case ImageFormat::jpg:
      spec = OIIO::ImageSpec(image.width, image.height, 3, OIIO::TypeDesc::UINT8);
      spec.attribute("CompressionQuality", std::clamp(options.jpeg_quality, 1, 100));
      spec.attribute("oiio:ColorSpace", "sRGB");
      break;
    case ImageFormat::tiff:
      spec = OIIO::ImageSpec(image.width, image.height, image.channels,
                             counts ? OIIO::TypeDesc::FLOAT : OIIO::TypeDesc::UINT16);
      spec.attribute("compression", kDeflate);
      if (counts)
        spec.channelnames = {"N"};
      else
        spec.attribute("oiio:ColorSpace", "sRGB");
      break;
    case ImageFormat::exr:
      spec = OIIO::ImageSpec(image.width, image.height, image.channels,
                             counts ? OIIO::TypeDesc::FLOAT : OIIO::TypeDesc::HALF);
      spec.attribute("compression", kDeflate);
      if (counts)
        spec.channelnames = {"N"};
      else
        spec.attribute("oiio:ColorSpace", "Linear");
      break;
  }
  spec.attribute("Software", "fractal-render");

  if (!out->open(tmp.path().string(), spec)) {
    std::string e = out->geterror();
    return fail("cannot write " + path + ": " + (e.empty() ? OIIO::geterror() : e));
  }
  const bool written = (format == ImageFormat::exr && !counts)
                           ? write_linear_rgb(*out, image)
                           : out->write_image(type_of(image.type), image.data.data());
  if (!written) {
    std::string e = out->geterror();
    out->close();
    out.reset();
    return fail("cannot write " + path + ": " + e);
  }
  if (!out->close()) return fail("cannot finish " + path + ": " + out->geterror());
  out.reset();

  if (const auto ec = files::sync_path(tmp.path(), false))
    return fail("cannot sync " + tmp.path().string() + ": " + ec.message());
  if (options.atomic) {
    if (const auto ec = files::durable_rename(tmp.path(), target))
      return fail("cannot rename " + tmp.path().string() + " to " + path + ": " + ec.message());
  }
  tmp.keep();
  std::error_code ec;

  WriteResult r;
  r.ok = true;
  r.bytes = fs::file_size(target, ec);
  if (ec) r.bytes = 0;
  return r;
}

std::optional<ImageFormat> format_from_path(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".png") return ImageFormat::png;
  if (ext == ".jpg" || ext == ".jpeg") return ImageFormat::jpg;
  if (ext == ".tif" || ext == ".tiff") return ImageFormat::tiff;
  if (ext == ".exr") return ImageFormat::exr;
  return std::nullopt;
}

}  // namespace fractal
