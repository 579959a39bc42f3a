#include "auth/secret.h"

#include <sodium.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "auth/sodium_init.h"

namespace fractal::auth {

SigningKey::SigningKey(std::string bytes) : bytes_(std::move(bytes)) {}
SigningKey::SigningKey(const SigningKey& other) : bytes_(other.bytes_) {}
SigningKey::SigningKey(SigningKey&& other) noexcept : bytes_(std::move(other.bytes_)) { other.wipe(); }
SigningKey& SigningKey::operator=(const SigningKey& other) {
  if (this != &other) {
    wipe();
    bytes_ = other.bytes_;
  }
  return *this;
}
SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    other.wipe();
  }
  return *this;
}
SigningKey::~SigningKey() { wipe(); }

void SigningKey::wipe() noexcept {
  if (!bytes_.empty()) sodium_memzero(bytes_.data(), bytes_.size());
  bytes_.clear();
}

SigningKey SigningKey::random() {
  detail::ensure_sodium();
  std::string bytes(kMinSecretBytes, '\0');
  randombytes_buf(bytes.data(), bytes.size());
  return SigningKey(std::move(bytes));
}

namespace {

constexpr const char* kEnvSecret = "FRACTAL_JWT_SECRET";
constexpr const char* kEnvSecretFile = "FRACTAL_JWT_SECRET_FILE";
constexpr std::size_t kMaxSecretFileBytes = 64 * 1024;

SecretResult failure(std::string message) {
  SecretResult r;
  r.error = std::move(message);
  return r;
}

std::string too_short(std::string_view where, std::size_t n) {
  return std::string(where) + " holds " + std::to_string(n) + " bytes; the JWT secret must be at least " +
         std::to_string(kMinSecretBytes) + " bytes (e.g. `openssl rand -base64 48`)";
}

}  // namespace

SecretResult load_signing_key(SecretMode mode, const EnvLookup& env_in) {
  const EnvLookup env = env_in ? env_in : EnvLookup([](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
  const auto secret = env(kEnvSecret);
  const auto file = env(kEnvSecretFile);

  if (secret && file) {
    return failure(std::string("both ") + kEnvSecret + " and " + kEnvSecretFile + " are set; set only one");
  }
  if (secret) {
    if (secret->size() < kMinSecretBytes) return failure(too_short(kEnvSecret, secret->size()));
    SecretResult r;
    r.key.emplace(*secret);
    r.source = kEnvSecret;
    return r;
  }
  if (file) {
    if (file->empty()) return failure(std::string(kEnvSecretFile) + " is set but empty");
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      return failure(std::string("cannot read ") + kEnvSecretFile + " " + *file + ": " + std::strerror(errno));
    }
    std::string bytes;
    bytes.resize(kMaxSecretFileBytes + 1);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (in.bad()) return failure(std::string("cannot read ") + kEnvSecretFile + " " + *file);
    bytes.resize(static_cast<std::size_t>(in.gcount()));
    if (bytes.size() > kMaxSecretFileBytes) {
      sodium_memzero(bytes.data(), bytes.size());
      return failure(std::string(kEnvSecretFile) + " " + *file + " is larger than 64 KiB");
    }
    while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
    if (bytes.size() < kMinSecretBytes) {
      const std::size_t n = bytes.size();
      sodium_memzero(bytes.data(), bytes.size());
      return failure(too_short(std::string(kEnvSecretFile) + " " + *file, n));
    }
    SecretResult r;
    r.key.emplace(std::move(bytes));
    r.source = "file " + *file;
    return r;
  }
  if (mode == SecretMode::development) {
    SecretResult r;
    r.key.emplace(SigningKey::random());
    r.source = "random (development mode)";
    r.warning = std::string("development mode: no ") + kEnvSecret + " or " + kEnvSecretFile +
                " set, using a random JWT signing key; tokens will not survive a restart "
                "and are not accepted by other replicas";
    return r;
  }
  return failure(std::string("no JWT signing key: set ") + kEnvSecret + " or " + kEnvSecretFile +
                 " (at least 32 bytes), or run in development mode");
}

}  // namespace fractal::auth
