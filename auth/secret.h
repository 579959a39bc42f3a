// The JWT signing key: where it comes from and how it is held in memory.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace fractal::auth {

inline constexpr std::size_t kMinSecretBytes = 32;  // HS256: at least the hash size (RFC 7518 §3.2)

// Raw key bytes, wiped from memory when destroyed. Never printed or logged.
class SigningKey {
 public:
  explicit SigningKey(std::string bytes);
  SigningKey(const SigningKey& other);
  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(const SigningKey& other);
  SigningKey& operator=(SigningKey&& other) noexcept;
  ~SigningKey();

  [[nodiscard]] std::string_view bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }

  // 32 random bytes (libsodium randombytes).
  [[nodiscard]] static SigningKey random();

 private:
  void wipe() noexcept;
  std::string bytes_;
};

enum class SecretMode {
  production,   // a key must be configured
  development,  // without one, a random key is made (and a warning returned)
};

struct SecretResult {
  std::optional<SigningKey> key;
  std::string error;    // set when key is empty: why the server must not start
  std::string warning;  // set in development mode when a random key was made
  std::string source;   // "FRACTAL_JWT_SECRET", "file <path>" or "random (development mode)"
  [[nodiscard]] bool ok() const noexcept { return key.has_value(); }
};

// Reads one environment variable; nullopt when unset. Default: std::getenv.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// FRACTAL_JWT_SECRET (the key itself, used as is) or FRACTAL_JWT_SECRET_FILE
// (a file holding it; trailing "\n"/"\r\n" removed; at most 64 KiB). Setting
// both is an error (which one wins would be a guess), as is an empty or
// unreadable file and a key under 32 bytes — in development mode too: a key
// that was configured but is wrong is never silently replaced. Only when
// neither variable is set does development mode make a random key. The key is
// raw bytes, not decoded: generate one with `openssl rand -base64 48`.
// Never throws for bad configuration.
[[nodiscard]] SecretResult load_signing_key(SecretMode mode, const EnvLookup& env = {});

}  // namespace fractal::auth
