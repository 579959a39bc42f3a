#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "auth/password_hash.h"

namespace fractal::auth {
namespace {

// Argon2 is deliberately slow (~20 ms a hash): these tests hash only a handful of times.

TEST(PasswordHash, RoundTripAndParameters) {
  const std::string h = hash_password("correct-horse-battery");
  ASSERT_EQ(h.rfind("$argon2id$", 0), 0u) << h;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(h, m, std::regex(R"(^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$)"))) << h;
  EXPECT_GE(std::stol(m[1]), 19456);  // KiB: 19 MiB
  EXPECT_GE(std::stol(m[2]), 2);
  EXPECT_EQ(std::stol(m[3]), 1);

  EXPECT_TRUE(verify_password("correct-horse-battery", h));
  EXPECT_FALSE(verify_password("correct-horse-batterY", h));
  EXPECT_FALSE(verify_password("", h));
  EXPECT_FALSE(default_hasher().needs_rehash(h));

  // A fresh salt each time.
  EXPECT_NE(hash_password("correct-horse-battery"), h);
}

TEST(PasswordHash, MalformedStoredHashesNeverVerify) {
  for (const std::string& bad : std::vector<std::string>{"", "x", "$argon2id$", "$argon2id$v=19$m=19456,t=2,p=1$", "plaintext-password",
        std::string(1000, 'a'), std::string("$argon2id$\0v=19", 15)}) {
    EXPECT_FALSE(verify_password("plaintext-password", bad));
    EXPECT_TRUE(default_hasher().needs_rehash(bad));
  }
}

TEST(PasswordHash, WeakerParametersNeedRehash) {
  const PasswordHasher weak(Argon2Params{1, 8u * 1024 * 1024});
  const std::string h = weak.hash("some-password");
  EXPECT_NE(h.find("m=8192,t=1"), std::string::npos) << h;
  EXPECT_TRUE(default_hasher().needs_rehash(h));
  EXPECT_FALSE(weak.needs_rehash(h));
  EXPECT_TRUE(verify_password("some-password", h));  // parameters are read from the string
  EXPECT_THROW(PasswordHasher(Argon2Params{0, 8u * 1024 * 1024}), HashError);
}

double median_ms(const std::function<void()>& f, int n) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

TEST(PasswordHash, DummyVerifyCostsAboutAsMuchAsARealOne) {
  const std::string h = hash_password("the-real-password");
  (void)default_hasher();  // the dummy hash is made here, outside the timing
  EXPECT_FALSE(verify_dummy("the-real-password"));
  EXPECT_FALSE(verify_dummy(""));
  const double real = median_ms([&] { EXPECT_FALSE(verify_password("a-wrong-password", h)); }, 3);
  const double dummy = median_ms([&] { EXPECT_FALSE(verify_dummy("a-wrong-password")); }, 3);
  EXPECT_LT(dummy, real * 3) << "dummy " << dummy << " ms, real " << real << " ms";
  EXPECT_LT(real, dummy * 3) << "dummy " << dummy << " ms, real " << real << " ms";
  EXPECT_GT(dummy, 1.0) << "the dummy verification does no Argon2 work";
}

}  // namespace
}  // namespace fractal::auth
