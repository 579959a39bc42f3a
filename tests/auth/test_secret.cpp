#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "auth/jwt.h"
#include "auth/secret.h"

namespace fractal::auth {
namespace {

namespace fs = std::filesystem;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class SecretFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fractal-auth-test-" + new_uuid_v4());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  fs::path dir_;
};

const std::string k32(32, 'k');

TEST(Secret, FromEnvironment) {
  const SecretResult r = load_signing_key(SecretMode::production, env_of({{"FRACTAL_JWT_SECRET", k32}}));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.key->bytes(), k32);
  EXPECT_TRUE(r.warning.empty());
  EXPECT_EQ(r.source, "FRACTAL_JWT_SECRET");
}

TEST(Secret, TooShortIsAnErrorInEveryMode) {
  for (SecretMode mode : {SecretMode::production, SecretMode::development}) {
    const SecretResult r = load_signing_key(mode, env_of({{"FRACTAL_JWT_SECRET", std::string(31, 'k')}}));
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("at least 32 bytes"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find(std::string(31, 'k')), std::string::npos) << "the secret leaked into the message";
    EXPECT_FALSE(load_signing_key(mode, env_of({{"FRACTAL_JWT_SECRET", ""}})).ok());
  }
}

TEST(Secret, MissingInProductionIsAnError) {
  const SecretResult r = load_signing_key(SecretMode::production, env_of({}));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("FRACTAL_JWT_SECRET"), std::string::npos) << r.error;
}

TEST(Secret, DevelopmentModeMakesARandomKeyWithAWarning) {
  const SecretResult a = load_signing_key(SecretMode::development, env_of({}));
  const SecretResult b = load_signing_key(SecretMode::development, env_of({}));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.key->size(), 32u);
  EXPECT_NE(a.key->bytes(), b.key->bytes());
  EXPECT_FALSE(a.warning.empty());
  // A configured key wins over development mode, without a warning.
  const SecretResult c = load_signing_key(SecretMode::development, env_of({{"FRACTAL_JWT_SECRET", k32}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.key->bytes(), k32);
  EXPECT_TRUE(c.warning.empty());
}

TEST(Secret, BothVariablesSetIsAnError) {
  EXPECT_FALSE(load_signing_key(SecretMode::development,
                                env_of({{"FRACTAL_JWT_SECRET", k32}, {"FRACTAL_JWT_SECRET_FILE", "/nonexistent"}}))
                   .ok());
}

TEST_F(SecretFile, FromFileTrailingNewlineTrimmed) {
  const std::string key = "0123456789abcdefghijklmnopqrstuvwxyz";  // 36 bytes
  for (const std::string ending : {"", "\n", "\r\n", "\n\n"}) {
    const std::string path = write("secret", key + ending);
    const SecretResult r = load_signing_key(SecretMode::production, env_of({{"FRACTAL_JWT_SECRET_FILE", path}}));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.key->bytes(), key);
    EXPECT_EQ(r.source, "file " + path);
  }
  // Inner newlines and binary bytes are part of the key.
  const std::string binary = std::string("\0\x01\n\xff", 4) + std::string(40, 'z');
  const SecretResult b = load_signing_key(SecretMode::production,
                                          env_of({{"FRACTAL_JWT_SECRET_FILE", write("bin", binary)}}));
  ASSERT_TRUE(b.ok()) << b.error;
  EXPECT_EQ(b.key->bytes(), binary);
}

TEST_F(SecretFile, FileErrors) {
  // 31 bytes + newline: too short once the newline is trimmed.
  EXPECT_FALSE(load_signing_key(SecretMode::production,
                                env_of({{"FRACTAL_JWT_SECRET_FILE", write("short", std::string(31, 'k') + "\n")}}))
                   .ok());
  EXPECT_FALSE(load_signing_key(SecretMode::production, env_of({{"FRACTAL_JWT_SECRET_FILE", write("empty", "")}})).ok());
  const SecretResult missing = load_signing_key(
      SecretMode::development, env_of({{"FRACTAL_JWT_SECRET_FILE", (dir_ / "does-not-exist").string()}}));
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.error.find("does-not-exist"), std::string::npos) << missing.error;
  EXPECT_FALSE(load_signing_key(SecretMode::production, env_of({{"FRACTAL_JWT_SECRET_FILE", ""}})).ok());
  EXPECT_FALSE(load_signing_key(SecretMode::production,
                                env_of({{"FRACTAL_JWT_SECRET_FILE", write("huge", std::string(70000, 'k'))}}))
                   .ok());
}

TEST(Secret, ReadsTheRealEnvironmentByDefault) {
  // Save and restore whatever the runner's environment holds.
  std::map<std::string, std::optional<std::string>> saved;
  for (const char* name : {"FRACTAL_JWT_SECRET", "FRACTAL_JWT_SECRET_FILE"}) {
    const char* v = std::getenv(name);
    saved[name] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  ::unsetenv("FRACTAL_JWT_SECRET_FILE");
  ::setenv("FRACTAL_JWT_SECRET", k32.c_str(), 1);
  const SecretResult r = load_signing_key(SecretMode::production);
  for (const auto& [name, value] : saved) {
    if (value) ::setenv(name.c_str(), value->c_str(), 1); else ::unsetenv(name.c_str());
  }
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.key->bytes(), k32);
}

TEST(Secret, SigningKeyCopiesAndMoves) {
  SigningKey a(k32);
  SigningKey b = a;
  EXPECT_EQ(b.bytes(), k32);
  SigningKey c = std::move(a);
  EXPECT_EQ(c.bytes(), k32);
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from keys are emptied
  b = SigningKey::random();
  EXPECT_EQ(b.size(), 32u);
  EXPECT_NE(b.bytes(), k32);
}

}  // namespace
}  // namespace fractal::auth
