// PNG encoding into memory (OpenImageIO through an in-memory IOProxy): the
// same writer settings as write_image's png path, so a tile's bytes decode to
// the same pixels as the file of the equivalent task.
#pragma once

#include <optional>
#include <string>

#include "kernels/image/image_buffer.h"

namespace fractal {

// An 8-bit RGB buffer as PNG bytes; nullopt (and *error) when it cannot be encoded.
[[nodiscard]] std::optional<std::string> encode_png(const ImageBuffer& image, int compression = 1,
                                                    std::string* error = nullptr);

}  // namespace fractal
