#include "auth/credentials.h"

#include <cstdint>
#include <vector>

namespace fractal::auth {
namespace {

// Strict UTF-8 decoding (RFC 3629): shortest form only, no surrogates, at most
// U+10FFFF. Returns false on any invalid or truncated sequence.
bool decode_utf8(std::string_view text, std::vector<char32_t>& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char b0 = *p;
    char32_t cp = 0;
    std::size_t extra = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      cp = b0 & 0x1F; extra = 1; min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      cp = b0 & 0x0F; extra = 2; min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      cp = b0 & 0x07; extra = 3; min = 0x10000;
    } else {
      return false;  // continuation byte or 0xF8..0xFF as a lead byte
    }
    if (static_cast<std::size_t>(end - p) < extra + 1) return false;
    for (std::size_t i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out.push_back(cp);
    p += extra + 1;
  }
  return true;
}

// Unicode White_Space property (PropList.txt).
bool is_unicode_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool is_control(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

bool is_username_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

std::optional<std::size_t> utf8_length(std::string_view text) {
  std::vector<char32_t> cps;
  cps.reserve(text.size());
  if (!decode_utf8(text, cps)) return std::nullopt;
  return cps.size();
}

std::optional<FieldError> validate_username(std::string_view username) {
  if (username.size() < kUsernameMin || username.size() > kUsernameMax) {
    return FieldError{"username", "username must be 3 to 32 characters long"};
  }
  for (char c : username) {
    if (!is_username_char(c)) {
      return FieldError{"username",
                        "username may contain only letters A-Z and a-z, digits 0-9, '_', '.' and '-'"};
    }
  }
  return std::nullopt;
}

std::optional<FieldError> validate_password(std::string_view password) {
  // Bound the work before decoding: 128 code points are at most 512 bytes.
  if (password.size() > kPasswordMax * 4) {
    return FieldError{"password", "password must be 8 to 128 characters long"};
  }
  std::vector<char32_t> cps;
  cps.reserve(password.size());
  if (!decode_utf8(password, cps)) {
    return FieldError{"password", "password must be valid UTF-8"};
  }
  if (cps.size() < kPasswordMin || cps.size() > kPasswordMax) {
    return FieldError{"password", "password must be 8 to 128 characters long"};
  }
  for (char32_t c : cps) {
    if (is_unicode_whitespace(c)) {
      return FieldError{"password", "password must not contain whitespace"};
    }
    if (is_control(c)) {
      return FieldError{"password", "password must not contain control characters"};
    }
  }
  return std::nullopt;
}

std::string normalize_username(std::string_view username) {
  std::string out(username);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace fractal::auth
