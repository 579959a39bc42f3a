// Sign-up credential rules (docs/api.md "Accounts") and the username key.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fractal::auth {

// A rule violation: `field` is "username" or "password"; `message` is human
// text that starts with the field name (same habit as kernels' TaskSpec errors).
struct FieldError {
  std::string field;
  std::string message;
};

inline constexpr std::size_t kUsernameMin = 3;
inline constexpr std::size_t kUsernameMax = 32;
inline constexpr std::size_t kPasswordMin = 8;    // Unicode code points
inline constexpr std::size_t kPasswordMax = 128;  // Unicode code points

// 3–32 characters of [A-Za-z0-9_.-].
[[nodiscard]] std::optional<FieldError> validate_username(std::string_view username);

// 8–128 Unicode code points of valid UTF-8 with no whitespace (Unicode
// White_Space, not only ASCII) and no control characters (C0, DEL, C1): both
// are invisible or ambiguous in a password field and differ between clients.
// Passwords are not Unicode-normalized: they are hashed as the bytes sent.
[[nodiscard]] std::optional<FieldError> validate_password(std::string_view password);

// The case-insensitive identity of a username: ASCII lowercase. Store it (unique
// index) and use it for lookups and rate-limit keys; keep the original spelling
// for display. Valid usernames are ASCII, so no Unicode case folding is needed.
[[nodiscard]] std::string normalize_username(std::string_view username);

// Number of code points of `text`, or nullopt when it is not valid UTF-8
// (overlong forms, surrogates, values above U+10FFFF, truncated sequences).
[[nodiscard]] std::optional<std::size_t> utf8_length(std::string_view text);

}  // namespace fractal::auth
