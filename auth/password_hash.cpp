#include "auth/password_hash.h"

#include <sodium.h>

#include <array>

#include "auth/sodium_init.h"

namespace fractal::auth {
namespace {

std::string hash_with(std::string_view password, const Argon2Params& p) {
  detail::ensure_sodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), p.opslimit, p.memlimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw HashError("argon2id hashing failed (out of memory or invalid parameters)");
  }
  return std::string(out.data());
}

// crypto_pwhash_str_* read a NUL-terminated string of at most STRBYTES - 1 characters.
bool fits(std::string_view encoded) {
  return !encoded.empty() && encoded.size() < crypto_pwhash_STRBYTES &&
         encoded.find('\0') == std::string_view::npos;
}

}  // namespace

PasswordHasher::PasswordHasher(Argon2Params params) : params_(params) {
  if (params_.opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
      params_.memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN) {
    throw HashError("argon2id parameters below libsodium's minimum");
  }
  detail::ensure_sodium();
  // The dummy's password is random and thrown away: nothing can match it.
  std::array<unsigned char, 32> random{};
  randombytes_buf(random.data(), random.size());
  dummy_hash_ = hash_with(std::string_view(reinterpret_cast<const char*>(random.data()), random.size()),
                          params_);
  sodium_memzero(random.data(), random.size());
}

std::string PasswordHasher::hash(std::string_view password) const { return hash_with(password, params_); }

bool PasswordHasher::verify(std::string_view password, std::string_view encoded) const noexcept {
  if (!fits(encoded)) return false;
  const std::string str(encoded);  // NUL-terminated copy
  return crypto_pwhash_str_verify(str.c_str(), password.data(), password.size()) == 0;
}

bool PasswordHasher::verify_dummy(std::string_view password) const noexcept {
  // Same work as verify(): same copy, same call; the result is ignored.
  volatile bool matched = verify(password, dummy_hash_);
  (void)matched;
  return false;
}

bool PasswordHasher::needs_rehash(std::string_view encoded) const noexcept {
  if (!fits(encoded)) return true;
  const std::string str(encoded);
  // 0: same algorithm and parameters; 1: different ones; -1: not an Argon2id string.
  return crypto_pwhash_argon2id_str_needs_rehash(str.c_str(), params_.opslimit, params_.memlimit) != 0;
}

const PasswordHasher& default_hasher() {
  static const PasswordHasher hasher{};
  return hasher;
}

std::string hash_password(std::string_view password) { return default_hasher().hash(password); }

bool verify_password(std::string_view password, std::string_view encoded) noexcept {
  try {
    return default_hasher().verify(password, encoded);
  } catch (...) {  // creating the default hasher failed (out of memory)
    return false;
  }
}

bool verify_dummy(std::string_view password) noexcept {
  try {
    return default_hasher().verify_dummy(password);
  } catch (...) {
    return false;
  }
}

}  // namespace fractal::auth
