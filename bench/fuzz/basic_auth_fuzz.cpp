// libFuzzer harness: the HTTP Basic decoder of GET /sign-in
// (server/basic_auth.h). The first byte picks the mode: the rest used raw as
// the Authorization header's value, or as "user\0password" credentials that
// are base64-encoded here and must decode back exactly (when the user has no ':').
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/basic_auth.h"

namespace {

std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                            std::uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (const std::size_t rest = in.size() - i; rest > 0) {
    std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16;
    if (rest == 2) v |= std::uint32_t(std::uint8_t(in[i + 1])) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    const std::size_t nul = rest.find('\0');
    const std::string user(rest.substr(0, nul));
    const std::string password(nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1));
    if (user.find(':') != std::string::npos) return 0;
    const std::string encoded = base64_encode(user + ":" + password);
    if (fractal::server::base64_decode(encoded) != user + ":" + password) std::abort();
    for (const char* scheme : {"Basic ", "basic  ", "BASIC "}) {
      const fractal::server::BasicAuthResult r = fractal::server::parse_basic_authorization(scheme + encoded);
      if (!r.credentials || r.credentials->username != user || r.credentials->password != password) std::abort();
    }
    return 0;
  }
  const fractal::server::BasicAuthResult r = fractal::server::parse_basic_authorization(rest);
  if (r.credentials.has_value() == !r.error.empty()) std::abort();
  if (const auto decoded = fractal::server::base64_decode(rest)) {
    // Whatever decodes must encode back to the same text (strict base64: one spelling per byte string).
    if (base64_encode(*decoded) != rest) std::abort();
  }
  return 0;
}
