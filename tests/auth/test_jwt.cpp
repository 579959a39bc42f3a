#include <gtest/gtest.h>
#include <sodium.h>

#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "auth/jwt.h"

namespace fractal::auth {
namespace {

using detail::base64url_decode;
using detail::base64url_encode;
using detail::sign_hs256;
using nlohmann::json;

constexpr std::int64_t kNow = 1'750'000'000;  // a fixed "now" for every test

const SigningKey& key() {
  static const SigningKey k(std::string("test-signing-key-0123456789-abcdefghijklmnop"));
  return k;
}

struct Parts {
  std::string header, payload, signature;
};
Parts split(const std::string& token) {
  const auto a = token.find('.');
  const auto b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

json valid_claims() {
  return json{{"sub", "0b5f8f7e-4a51-4e0e-9d3c-1d2a7c9e6f10"}, {"username", "alice"}, {"iat", kNow - 10},
              {"exp", kNow + 3600}, {"jti", "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"}};
}
const std::string kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

std::string hmac_sha512_token(const std::string& header_json, const std::string& payload_json) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  crypto_auth_hmacsha512_state st;
  unsigned char mac[crypto_auth_hmacsha512_BYTES];
  crypto_auth_hmacsha512_init(&st, reinterpret_cast<const unsigned char*>(key().bytes().data()), key().size());
  crypto_auth_hmacsha512_update(&st, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  crypto_auth_hmacsha512_final(&st, mac);
  return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), sizeof mac));
}

void expect_rejected(std::string_view token, std::string_view why_contains = {}) {
  VerifyResult r;
  EXPECT_NO_THROW(r = verify_token(key(), token, kNow));
  EXPECT_FALSE(r.ok()) << "accepted: " << token;
  EXPECT_FALSE(r.error.empty());
  if (!why_contains.empty()) {
    EXPECT_NE(r.error.find(why_contains), std::string::npos) << r.error;
  }
}

// ---- issuing and the happy path ----

TEST(Jwt, RoundTrip) {
  const IssuedToken t = issue_token(key(), "user-42", "Alice", kNow);
  EXPECT_EQ(t.expires_in, 3600);
  EXPECT_EQ(t.issued_at, kNow);
  EXPECT_EQ(t.expires_at, kNow + 3600);
  const VerifyResult r = verify_token(key(), t.token, kNow);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.claims->sub, "user-42");
  EXPECT_EQ(r.claims->username, "Alice");
  EXPECT_EQ(r.claims->jti, t.jti);
  EXPECT_EQ(r.claims->iat, kNow);
  EXPECT_EQ(r.claims->exp, kNow + 3600);
  EXPECT_FALSE(r.claims->nbf.has_value());

  const Parts p = split(t.token);
  EXPECT_EQ(json::parse(*base64url_decode(p.header)), json::parse(kHs256Header));
  const json payload = json::parse(*base64url_decode(p.payload));
  for (const char* claim : {"sub", "username", "iat", "exp", "jti"}) EXPECT_TRUE(payload.contains(claim)) << claim;
  EXPECT_EQ(t.token.find('='), std::string::npos);  // no padding
}

TEST(Jwt, JtiIsAFreshUuidV4) {
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  const IssuedToken a = issue_token(key(), "u", "alice", kNow);
  const IssuedToken b = issue_token(key(), "u", "alice", kNow);
  EXPECT_TRUE(std::regex_match(a.jti, v4)) << a.jti;
  EXPECT_NE(a.jti, b.jti);
  EXPECT_NE(a.token, b.token);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(std::regex_match(new_uuid_v4(), v4));
}

TEST(Jwt, ConfigurableTtlAndNotBefore) {
  IssueOptions o;
  o.ttl = std::chrono::seconds{60};
  o.not_before = kNow + 20;  // within the 30 s leeway
  const IssuedToken t = issue_token(key(), "u", "alice", kNow, o);
  EXPECT_EQ(t.expires_in, 60);
  const VerifyResult r = verify_token(key(), t.token, kNow);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.claims->nbf, kNow + 20);
  EXPECT_TRUE(verify_token(key(), t.token, kNow + 59).ok());
  EXPECT_FALSE(verify_token(key(), t.token, kNow + 60).ok());
}

TEST(Jwt, IssueRejectsBadArguments) {
  EXPECT_THROW((void)issue_token(SigningKey(std::string(31, 'k')), "u", "alice", kNow), std::invalid_argument);
  EXPECT_THROW((void)issue_token(key(), "", "alice", kNow), std::invalid_argument);
  EXPECT_THROW((void)issue_token(key(), "u", "", kNow), std::invalid_argument);
  IssueOptions zero;
  zero.ttl = std::chrono::seconds{0};
  EXPECT_THROW((void)issue_token(key(), "u", "alice", kNow, zero), std::invalid_argument);
}

TEST(Jwt, AcceptsHandMadeTokenWithoutTyp) {
  EXPECT_TRUE(verify_token(key(), sign_hs256(key(), R"({"alg":"HS256"})", valid_claims().dump()), kNow).ok());
  EXPECT_TRUE(verify_token(key(), sign_hs256(key(), R"({"typ":"jwt","alg":"HS256"})", valid_claims().dump()), kNow).ok());
  EXPECT_TRUE(verify_token(key(), sign_hs256(key(), R"({"alg":"HS256","kid":"x"})", valid_claims().dump()), kNow).ok());
}

// ---- algorithm attacks ----

TEST(JwtAttack, AlgNoneWithEmptySignature) {
  const std::string payload = base64url_encode(valid_claims().dump());
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    const std::string header = base64url_encode(std::string(R"({"alg":")") + alg + R"(","typ":"JWT"})");
    expect_rejected(header + "." + payload + ".");
    expect_rejected(header + "." + payload);
  }
}

TEST(JwtAttack, AlgNoneEvenWithAValidHmac) {
  expect_rejected(sign_hs256(key(), R"({"alg":"none","typ":"JWT"})", valid_claims().dump()), "algorithm");
}

TEST(JwtAttack, OtherAlgorithmsSignedWithTheSameKey) {
  expect_rejected(hmac_sha512_token(R"({"alg":"HS512","typ":"JWT"})", valid_claims().dump()), "algorithm");
  // An HS512 MAC under an HS256 header: wrong length, rejected.
  expect_rejected(hmac_sha512_token(kHs256Header, valid_claims().dump()), "signature");
  // Other alg names with a correct HS256 MAC: the header alone decides, and only HS256 passes.
  for (const char* alg : {"HS384", "HS512", "RS256", "ES256", "PS256", "EdDSA", "hs256", "HS256 ", " HS256", ""}) {
    SCOPED_TRACE(alg);
    expect_rejected(sign_hs256(key(), std::string(R"({"alg":")") + alg + R"("})", valid_claims().dump()));
  }
}

TEST(JwtAttack, MissingOrOddAlgAndHeader) {
  const std::string claims = valid_claims().dump();
  expect_rejected(sign_hs256(key(), R"({"typ":"JWT"})", claims), "alg");
  expect_rejected(sign_hs256(key(), R"({"alg":null})", claims));
  expect_rejected(sign_hs256(key(), R"({"alg":["HS256"]})", claims));
  expect_rejected(sign_hs256(key(), R"({"alg":"HS256","alg":"none"})", claims));  // duplicate names
  expect_rejected(sign_hs256(key(), R"({"alg":"none","alg":"HS256"})", claims));
  expect_rejected(sign_hs256(key(), R"({"alg":"HS256","typ":"JWE"})", claims));
  expect_rejected(sign_hs256(key(), R"({"alg":"HS256","crit":["exp"]})", claims));
  expect_rejected(sign_hs256(key(), R"(["HS256"])", claims));
  expect_rejected(sign_hs256(key(), "", claims));
  expect_rejected(sign_hs256(key(), "not json", claims));
}

// ---- signature attacks ----

TEST(JwtAttack, WrongKey) {
  const SigningKey other(std::string("another-signing-key-0123456789-abcdefghijkl"));
  const IssuedToken t = issue_token(other, "user-42", "alice", kNow);
  expect_rejected(t.token, "signature");
}

TEST(JwtAttack, TamperedPayloadKeepsSignature) {
  const IssuedToken t = issue_token(key(), "user-42", "alice", kNow);
  Parts p = split(t.token);
  json payload = json::parse(*base64url_decode(p.payload));
  payload["username"] = "admin";
  expect_rejected(p.header + "." + base64url_encode(payload.dump()) + "." + p.signature, "signature");
  payload = json::parse(*base64url_decode(p.payload));
  payload["sub"] = "user-1";
  expect_rejected(p.header + "." + base64url_encode(payload.dump()) + "." + p.signature, "signature");
  payload = json::parse(*base64url_decode(p.payload));
  payload["exp"] = kNow + 10 * 365 * 86400;
  expect_rejected(p.header + "." + base64url_encode(payload.dump()) + "." + p.signature, "signature");
}

TEST(JwtAttack, TamperedHeaderKeepsSignature) {
  const Parts p = split(issue_token(key(), "u", "alice", kNow).token);
  expect_rejected(base64url_encode(R"({"alg":"HS256","typ":"JWT","kid":"x"})") + "." + p.payload + "." + p.signature);
}

TEST(JwtAttack, EverySingleCharacterChangeIsRejected) {
  const std::string token = issue_token(key(), "user-42", "alice", kNow).token;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
  std::mt19937 rng(12345);
  for (std::size_t i = 0; i < token.size(); ++i) {
    for (int k = 0; k < 4; ++k) {
      std::string t = token;
      char c;
      do c = alphabet[rng() % alphabet.size()]; while (c == token[i]);
      t[i] = c;
      const VerifyResult r = verify_token(key(), t, kNow);
      ASSERT_FALSE(r.ok()) << "position " << i << " -> '" << c << "'";
    }
  }
}

TEST(JwtAttack, NonCanonicalBase64IsRejected) {
  // The 43-character signature carries 2 unused low bits in its last
  // character; a lax decoder maps e.g. 'A' and 'B' to the same bytes.
  const std::string token = issue_token(key(), "u", "alice", kNow).token;
  const std::string b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char last = token.back();
  const auto v = b64.find(last);
  ASSERT_NE(v, std::string::npos);
  ASSERT_EQ(v & 3u, 0u);  // canonical: unused bits are zero
  for (std::size_t low = 1; low < 4; ++low) {
    std::string t = token;
    t.back() = b64[v | low];
    expect_rejected(t);
  }
  EXPECT_EQ(base64url_decode("QQ"), std::optional<std::string>("A"));  // canonical
  EXPECT_FALSE(base64url_decode("QR").has_value());           // same bits + garbage
  EXPECT_FALSE(base64url_decode("Q").has_value());            // impossible length
  EXPECT_FALSE(base64url_decode("QQ==").has_value());         // padding
  EXPECT_FALSE(base64url_decode("Q+8").has_value());          // standard alphabet
  EXPECT_FALSE(base64url_decode("Q/8").has_value());
  EXPECT_FALSE(base64url_decode("QQ ").has_value());
  EXPECT_EQ(base64url_decode("_-8"), std::optional<std::string>("\xff\xef"));
}

// ---- claims ----

TEST(JwtClaims, Expired) {
  const IssuedToken t = issue_token(key(), "u", "alice", kNow - 7200);
  expect_rejected(t.token, "expired");
  // Boundary: valid up to exp - 1, expired from exp on (no leeway on exp).
  const IssuedToken u = issue_token(key(), "u", "alice", kNow);
  EXPECT_TRUE(verify_token(key(), u.token, u.expires_at - 1).ok());
  EXPECT_FALSE(verify_token(key(), u.token, u.expires_at).ok());
}

TEST(JwtClaims, NotBeforeInTheFuture) {
  IssueOptions o;
  o.not_before = kNow + 3600;
  const IssuedToken t = issue_token(key(), "u", "alice", kNow, o);
  expect_rejected(t.token, "nbf");
  o.not_before = kNow + 31;
  expect_rejected(issue_token(key(), "u", "alice", kNow, o).token, "nbf");
  o.not_before = kNow + 30;
  EXPECT_TRUE(verify_token(key(), issue_token(key(), "u", "alice", kNow, o).token, kNow).ok());
}

TEST(JwtClaims, IssuedInTheFuture) {
  expect_rejected(issue_token(key(), "u", "alice", kNow + 3600).token, "future");
  expect_rejected(issue_token(key(), "u", "alice", kNow + 31).token, "future");
  EXPECT_TRUE(verify_token(key(), issue_token(key(), "u", "alice", kNow + 30).token, kNow).ok());
}

TEST(JwtClaims, RequiredClaimsMissing) {
  for (const char* claim : {"exp", "jti", "sub", "username", "iat"}) {
    SCOPED_TRACE(claim);
    json c = valid_claims();
    c.erase(claim);
    expect_rejected(sign_hs256(key(), kHs256Header, c.dump()), claim);
  }
}

TEST(JwtClaims, WrongTypesAndValues) {
  auto with = [](const char* name, json value) {
    json c = valid_claims();
    c[name] = std::move(value);
    return sign_hs256(key(), kHs256Header, c.dump());
  };
  expect_rejected(with("exp", std::to_string(kNow + 3600)));
  expect_rejected(with("exp", static_cast<double>(kNow) + 3600.5));
  expect_rejected(with("exp", nullptr));
  expect_rejected(with("exp", true));
  expect_rejected(with("exp", std::uint64_t{18'000'000'000'000'000'000u}));  // beyond int64
  expect_rejected(with("iat", "now"));
  expect_rejected(with("nbf", "later"));
  expect_rejected(with("sub", 42));
  expect_rejected(with("sub", ""));
  expect_rejected(with("username", json::array({"alice"})));
  expect_rejected(with("jti", ""));
  expect_rejected(with("exp", kNow - 20));  // before iat
  expect_rejected(sign_hs256(key(), kHs256Header, R"([1,2,3])"));
  expect_rejected(sign_hs256(key(), kHs256Header, "null"));
  expect_rejected(sign_hs256(key(), kHs256Header, ""));
  // Duplicate claim names: which one wins would depend on the parser.
  const std::string dup = R"({"sub":"a","sub":"b","username":"alice","iat":)" + std::to_string(kNow) +
                          R"(,"exp":)" + std::to_string(kNow + 60) + R"(,"jti":"j"})";
  expect_rejected(sign_hs256(key(), kHs256Header, dup));
}

// ---- garbage ----

TEST(JwtGarbage, NeverAcceptedNeverThrows) {
  const std::string good = issue_token(key(), "u", "alice", kNow).token;
  const Parts p = split(good);
  const std::vector<std::string> inputs = {
      "", ".", "..", "...", "a", "a.b", "a.b.c", "a.b.c.d", "Bearer " + good, good + ".", good + ".x", "." + good,
      good + "=", good + " ", " " + good, good + "\n", p.header + ".." + p.signature, p.header + "." + p.payload,
      p.header + "." + p.payload + "." + p.signature + "." + p.signature, "." + p.payload + "." + p.signature,
      p.header + "." + p.payload + "." + p.signature.substr(0, 42), p.header + "." + p.payload + "." + p.signature + "A",
      p.header + "." + p.payload + "." + p.signature + "==", p.header + "." + p.payload + "*." + p.signature,
      p.header + "." + p.payload + "." + std::string(p.signature.size(), '!'), std::string(10000, 'a'),
      std::string(kMaxTokenBytes + 1, '.'), std::string("\0\0\0", 3), "\xff\xfe.\xff.\xff", "null", "{}",
      "eyJhbGciOiJIUzI1NiJ9.e30.", base64url_encode("{\"alg\":\"HS256\"") + "." + p.payload + "." + p.signature};
  for (const auto& in : inputs) {
    SCOPED_TRACE(in.substr(0, 80));
    expect_rejected(in);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 200, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    if (i % 2) s = p.header + "." + s + "." + p.signature;
    EXPECT_FALSE(verify_token(key(), s, kNow).ok());
  }
}

TEST(JwtGarbage, ShortServerKeyVerifiesNothing) {
  const std::string t = issue_token(key(), "u", "alice", kNow).token;
  EXPECT_FALSE(verify_token(SigningKey(std::string()), t, kNow).ok());
  EXPECT_FALSE(verify_token(SigningKey(std::string(31, 'k')), t, kNow).ok());
}

}  // namespace
}  // namespace fractal::auth
