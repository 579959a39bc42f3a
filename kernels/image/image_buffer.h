// An interleaved image in memory: RGB colour or a one-channel iteration map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fractal {

enum class PixelType { u8, u16, f32 };

[[nodiscard]] constexpr std::size_t pixel_type_size(PixelType t) {
  return t == PixelType::u8 ? 1 : t == PixelType::u16 ? 2 : 4;
}

struct ImageBuffer {
  int width = 0, height = 0, channels = 0;
  PixelType type = PixelType::u8;
  std::vector<unsigned char> data;  // row-major, channels interleaved

  [[nodiscard]] static ImageBuffer make(int w, int h, int c, PixelType t) {
    ImageBuffer b;
    b.width = w;
    b.height = h;
    b.channels = c;
    b.type = t;
    b.data.resize(static_cast<std::size_t>(w) * h * c * pixel_type_size(t));
    return b;
  }
  [[nodiscard]] std::size_t row_bytes() const {
    return static_cast<std::size_t>(width) * channels * pixel_type_size(type);
  }
  template <class T>
  [[nodiscard]] T* row(int y) {
    return reinterpret_cast<T*>(data.data() + row_bytes() * static_cast<std::size_t>(y));
  }
  template <class T>
  [[nodiscard]] const T* row(int y) const {
    return reinterpret_cast<const T*>(data.data() + row_bytes() * static_cast<std::size_t>(y));
  }
};

}  // namespace fractal
