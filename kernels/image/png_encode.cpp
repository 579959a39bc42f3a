#include "kernels/image/png_encode.h"

#include <algorithm>
#include <vector>

#include <OpenImageIO/filesystem.h>
#include <OpenImageIO/imageio.h>

namespace fractal {

std::optional<std::string> encode_png(const ImageBuffer& image, int compression, std::string* error) {
  auto fail = [&](std::string message) -> std::optional<std::string> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  if (image.width <= 0 || image.height <= 0 || image.channels != 3 || image.type != PixelType::u8)
    return fail("PNG tiles need an 8-bit RGB image");
  if (image.data.size() != image.row_bytes() * static_cast<std::size_t>(image.height))
    return fail("image buffer size does not match its dimensions");
  auto out = OIIO::ImageOutput::create("tile.png");
  if (!out) return fail("no OpenImageIO PNG writer: " + OIIO::geterror());
  std::vector<unsigned char> bytes;
  OIIO::Filesystem::IOVecOutput proxy(bytes);
  if (!out->set_ioproxy(&proxy)) return fail("the PNG writer does not support in-memory output");
  OIIO::ImageSpec spec(image.width, image.height, 3, OIIO::TypeDesc::UINT8);
  spec.attribute("png:compressionLevel", std::clamp(compression, 0, 9));
  spec.attribute("oiio:ColorSpace", "sRGB");
  spec.attribute("Software", "fractal-render");
  if (!out->open("tile.png", spec)) return fail("PNG encode: " + out->geterror());
  if (!out->write_image(OIIO::TypeDesc::UINT8, image.data.data())) return fail("PNG encode: " + out->geterror());
  if (!out->close()) return fail("PNG encode: " + out->geterror());
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace fractal
