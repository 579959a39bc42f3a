#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "auth/authenticator.h"

namespace fractal::auth {
namespace {

using namespace std::chrono_literals;

const SigningKey kKey(std::string("authenticator-test-key-0123456789-abcdefgh"));

struct FakeClocks {
  std::int64_t unix = 1'750'000'000;
  std::chrono::steady_clock::time_point steady{std::chrono::hours{1000}};
  void advance(std::chrono::seconds s) {
    unix += s.count();
    steady += s;
  }
};

// Records what the Authenticator asks of the store.
class RecordingStore final : public RevocationStore {
 public:
  bool is_revoked(std::string_view) override { return false; }
  void revoke(std::string_view jti, std::chrono::seconds ttl) override {
    last_jti = jti;
    last_ttl = ttl;
    ++calls;
  }
  std::string last_jti;
  std::chrono::seconds last_ttl{0};
  int calls = 0;
};

class AuthenticatorTest : public ::testing::Test {
 protected:
  FakeClocks clocks;
  InMemoryRevocationStore store{[this] { return clocks.steady; }};
  Authenticator auth{kKey, store, AuthenticatorOptions{}, [this] { return clocks.unix; }};
};

TEST_F(AuthenticatorTest, IssueVerifyRevoke) {
  const IssuedToken t = auth.issue("user-1", "alice");
  EXPECT_EQ(t.expires_in, 3600);
  const VerifyResult r = auth.verify(t.token);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.claims->sub, "user-1");
  EXPECT_EQ(r.claims->username, "alice");

  const IssuedToken other = auth.issue("user-1", "alice");
  auth.revoke(*r.claims);
  const VerifyResult after = auth.verify(t.token);
  EXPECT_FALSE(after.ok());
  EXPECT_EQ(after.error, "token revoked");
  EXPECT_TRUE(auth.verify(other.token).ok()) << "only the revoked jti is refused";
}

TEST_F(AuthenticatorTest, RevokedUntilExpiryThenExpired) {
  const IssuedToken t = auth.issue("user-1", "alice");
  auth.revoke(*auth.verify(t.token).claims);
  clocks.advance(3599s);
  EXPECT_EQ(auth.verify(t.token).error, "token revoked");
  clocks.advance(1s);
  EXPECT_EQ(auth.verify(t.token).error, "token expired");
  clocks.advance(30s);  // the revocation entry outlives exp by the leeway, then goes
  EXPECT_EQ(store.size(), 0u);
}

TEST_F(AuthenticatorTest, ConfigurableTtl) {
  Authenticator short_lived(kKey, store, AuthenticatorOptions{120s, 30s}, [this] { return clocks.unix; });
  const IssuedToken t = short_lived.issue("u", "alice");
  EXPECT_EQ(t.expires_in, 120);
  clocks.advance(119s);
  EXPECT_TRUE(short_lived.verify(t.token).ok());
  clocks.advance(1s);
  EXPECT_FALSE(short_lived.verify(t.token).ok());
}

TEST_F(AuthenticatorTest, RejectsForeignAndBrokenTokens) {
  const SigningKey other(std::string("some-other-key-0123456789-abcdefghijklmnop"));
  EXPECT_FALSE(auth.verify(issue_token(other, "u", "alice", clocks.unix).token).ok());
  EXPECT_FALSE(auth.verify("").ok());
  EXPECT_FALSE(auth.verify("Bearer x.y.z").ok());
}

TEST(Authenticator, RevokeTtlIsRemainingLifetimePlusLeeway) {
  std::int64_t now = 1'750'000'000;
  RecordingStore rec;
  Authenticator auth(kKey, rec, AuthenticatorOptions{3600s, 30s}, [&] { return now; });
  const IssuedToken t = auth.issue("u", "alice");
  now += 600;
  auth.revoke(*auth.verify(t.token).claims);
  EXPECT_EQ(rec.last_jti, t.jti);
  EXPECT_EQ(rec.last_ttl, 3000s + 30s);
  // Already expired everywhere: nothing to store.
  Claims old = *auth.verify(t.token).claims;
  old.exp = now - 31;
  auth.revoke(old);
  EXPECT_EQ(rec.calls, 1);
}

TEST(Authenticator, RefusesBadConfiguration) {
  InMemoryRevocationStore store;
  EXPECT_THROW(Authenticator(SigningKey(std::string(31, 'k')), store), std::invalid_argument);
  EXPECT_THROW(Authenticator(kKey, store, AuthenticatorOptions{0s, 30s}), std::invalid_argument);
}

TEST(InMemoryRevocationStore, ExpiresAndNeverShortens) {
  auto now = std::chrono::steady_clock::time_point{std::chrono::hours{1}};
  InMemoryRevocationStore s([&] { return now; });
  s.revoke("a", 100s);
  s.revoke("b", 0s);   // nothing to remember
  s.revoke("c", -5s);
  EXPECT_TRUE(s.is_revoked("a"));
  EXPECT_FALSE(s.is_revoked("b"));
  EXPECT_FALSE(s.is_revoked("c"));
  s.revoke("a", 10s);  // shorter: keeps 100 s
  now += 99s;
  EXPECT_TRUE(s.is_revoked("a"));
  now += 1s;
  EXPECT_FALSE(s.is_revoked("a"));
  EXPECT_EQ(s.size(), 0u);
}

TEST(InMemoryRevocationStore, ThreadSafe) {
  InMemoryRevocationStore s;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        const std::string jti = std::to_string(t) + "-" + std::to_string(i);
        s.revoke(jti, 60s);
        EXPECT_TRUE(s.is_revoked(jti));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(s.size(), 4000u);
}

TEST(ParseBearer, Forms) {
  EXPECT_EQ(parse_bearer("Bearer abc.def.ghi"), std::optional<std::string_view>("abc.def.ghi"));
  EXPECT_EQ(parse_bearer("bearer   abc"), std::optional<std::string_view>("abc"));
  EXPECT_EQ(parse_bearer("BEARER a-b_c~d+e/f=="), std::optional<std::string_view>("a-b_c~d+e/f=="));
  for (const char* bad : {"", "Bearer", "Bearer ", "Bearer  ", "Basic abc", "Bearerabc", "Bearer abc def",
                          "Bearer abc ", "Bearer =abc", "Bearer a=b", "Bearer\tabc", " Bearer abc",
                          "Token abc", "Bearer abc\n"}) {
    EXPECT_FALSE(parse_bearer(bad).has_value()) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace fractal::auth
