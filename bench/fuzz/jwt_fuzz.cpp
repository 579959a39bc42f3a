// libFuzzer harness: HS256 token verification on arbitrary bytes (the first
// byte picks whether the rest is used raw or as a payload signed with the
// right key, so the claim checks are reached too). Never throws, never
// accepts a token without the claims it requires.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/jwt.h"
#include "auth/secret.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fractal::auth::SigningKey key(std::string("fuzz-signing-key-0123456789abcdefghijkl"));
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  if (data[0] & 1) {
    token = fractal::auth::detail::sign_hs256(key, R"({"alg":"HS256","typ":"JWT"})", rest);
  } else {
    token.assign(rest);
  }
  const fractal::auth::VerifyResult r = fractal::auth::verify_token(key, token, 1'800'000'000);
  if (r.ok() && (r.claims->sub.empty() || r.claims->username.empty() || r.claims->jti.empty())) std::abort();
  if (!r.ok() && r.error.empty()) std::abort();
  return 0;
}
