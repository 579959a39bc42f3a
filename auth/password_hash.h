// Argon2id password hashing (libsodium crypto_pwhash_str_alg).
//
// Parameters: m = 19 MiB, t = 2, p = 1 — the OWASP Password Storage Cheat
// Sheet's Argon2id configuration (the API contract asks for at least this). Why not more:
// the service runs on small shared nodes (2 cores here, rendering at the same
// time); one hash costs ~20 ms and 19 MiB, so a burst of sign-ins cannot starve
// the renderers or the memory, while an offline guess still costs the attacker
// the same 19 MiB × 2 passes. Raising them is a matter of Argon2Params:
// verification reads the parameters from each stored string, and
// needs_rehash() tells the caller to re-hash at the next successful sign-in.
// libsodium's Argon2id always uses p = 1.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fractal::auth {

struct Argon2Params {
  unsigned long long opslimit = 2;          // t: passes over memory
  std::size_t memlimit = 19u * 1024 * 1024; // m: bytes (19456 KiB)
};

// Internal failure of the hash function (out of memory): not a bad password.
class HashError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thread-safe (const methods only). Construction computes one dummy hash.
class PasswordHasher {
 public:
  explicit PasswordHasher(Argon2Params params = {});

  // "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", random 16-byte salt.
  // Throws HashError when hashing fails (out of memory) or params are out of range.
  [[nodiscard]] std::string hash(std::string_view password) const;
  // False for a wrong password and for a malformed or non-Argon2 string. Never throws.
  [[nodiscard]] bool verify(std::string_view password, std::string_view encoded) const noexcept;
  // Verifies against a dummy hash made with this hasher's parameters and
  // always returns false: call it when the user does not exist, so an unknown
  // user costs the same time as a wrong password.
  [[nodiscard]] bool verify_dummy(std::string_view password) const noexcept;
  // True when `encoded` was made with other parameters or another algorithm.
  [[nodiscard]] bool needs_rehash(std::string_view encoded) const noexcept;
  [[nodiscard]] const Argon2Params& params() const noexcept { return params_; }

 private:
  Argon2Params params_;
  std::string dummy_hash_;
};

// The process-wide hasher with the default parameters, created on first use
// (thread-safe). Call default_hasher() once at startup so the first sign-in of
// an unknown user does not also pay for making the dummy hash.
const PasswordHasher& default_hasher();
[[nodiscard]] std::string hash_password(std::string_view password);
[[nodiscard]] bool verify_password(std::string_view password, std::string_view encoded) noexcept;
[[nodiscard]] bool verify_dummy(std::string_view password) noexcept;

}  // namespace fractal::auth
