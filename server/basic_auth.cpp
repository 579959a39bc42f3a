#include "server/basic_auth.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>

namespace fractal::server {

std::optional<std::string> base64_decode(std::string_view in) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
    return t;
  }();
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (in.back() == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    std::uint32_t v = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = in[i + j];
      int d;
      if (c == '=') {
        if (i + 4 != in.size() || j < 4 - pad) return std::nullopt;
        d = 0;
      } else {
        d = table[static_cast<unsigned char>(c)];
        if (d < 0) return std::nullopt;
      }
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    out.push_back(static_cast<char>((v >> 16) & 0xff));
    out.push_back(static_cast<char>((v >> 8) & 0xff));
    out.push_back(static_cast<char>(v & 0xff));
  }
  // Strict: the bits padding leaves over must be zero, so every byte string has
  // one spelling ("QR==" is refused, "QQ==" is "A"; found by bench/fuzz/basic_auth_fuzz.cpp).
  const std::size_t last = in.size() - 1 - pad;
  const int d = table[static_cast<unsigned char>(in[last])];
  if ((pad == 2 && (d & 0x0f) != 0) || (pad == 1 && (d & 0x03) != 0)) return std::nullopt;
  out.resize(out.size() - pad);
  return out;
}

BasicAuthResult parse_basic_authorization(std::string_view value) {
  constexpr std::string_view scheme = "basic ";
  const auto lower_equal = [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); };
  if (value.size() <= scheme.size() || !std::equal(scheme.begin(), scheme.end(), value.begin(), lower_equal))
    return {std::nullopt, "sign in with HTTP Basic authentication (Authorization: Basic ...)"};
  value.remove_prefix(scheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  const auto decoded = base64_decode(value);
  const std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
  if (!decoded || colon == std::string::npos) return {std::nullopt, "malformed Basic credentials"};
  return {BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)}, {}};
}

}  // namespace fractal::server
