// Token attacks on an authenticated route: every one is 401 with a Bearer challenge.
#include <sodium.h>

#include "auth/jwt.h"
#include "tests/server/server_test_env.h"

namespace fractal::server::testing {
namespace {

using auth::detail::base64url_decode;
using auth::detail::base64url_encode;

struct Parts {
  std::string header, payload, signature;
};
Parts split(const std::string& token) {
  const auto a = token.find('.');
  const auto b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

std::string hs512(const auth::SigningKey& key, const std::string& header, const std::string& payload) {
  const std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  crypto_auth_hmacsha512_state st;
  unsigned char mac[crypto_auth_hmacsha512_BYTES];
  crypto_auth_hmacsha512_init(&st, reinterpret_cast<const unsigned char*>(key.bytes().data()), key.size());
  crypto_auth_hmacsha512_update(&st, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  crypto_auth_hmacsha512_final(&st, mac);
  return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), sizeof mac));
}

void expect_401(const Response& r, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(r.header("WWW-Authenticate").rfind("Bearer", 0), 0u) << r.header("WWW-Authenticate");
  ASSERT_TRUE(r.j.is_object()) << r.body;
  EXPECT_TRUE(r.j["error"]["code"] == "invalid_token" || r.j["error"]["code"] == "unauthorized") << r.body;
}

TEST(Tokens, AttacksAreRejectedWith401) {
  const User alice = new_user("alice");
  const User mallory = new_user("mallory");
  const json alice_task = add_task(alice);
  const Parts good = split(alice.token);
  const json claims = json::parse(*base64url_decode(good.payload));

  std::vector<std::pair<std::string, std::string>> attacks;
  attacks.reserve(16);  // also silences GCC 12's false -Warray-bounds on the first emplace_back
  // alg none, with and without a signature part.
  const std::string none_header = R"({"alg":"none","typ":"JWT"})";
  attacks.emplace_back("alg none", base64url_encode(none_header) + "." + good.payload + ".");
  attacks.emplace_back("alg none + sig", base64url_encode(none_header) + "." + good.payload + "." + good.signature);
  attacks.emplace_back("alg None", base64url_encode(R"({"alg":"None"})") + "." + good.payload + ".");
  // HS512 with the server's own key.
  attacks.emplace_back("HS512 same key", hs512(test_key(), R"({"alg":"HS512","typ":"JWT"})", claims.dump()));
  // HS256 signed with another key.
  attacks.emplace_back("wrong key",
                       auth::issue_token(auth::SigningKey::random(), alice.id, alice.name, auth::unix_now()).token);
  // Tampered payload: mallory's token claiming alice's id, signature kept.
  json forged = json::parse(*base64url_decode(split(mallory.token).payload));
  forged["sub"] = alice.id;
  attacks.emplace_back("tampered payload", split(mallory.token).header + "." + base64url_encode(forged.dump()) + "." +
                                               split(mallory.token).signature);
  // Expired, correctly signed.
  attacks.emplace_back("expired", auth::issue_token(test_key(), alice.id, alice.name, auth::unix_now() - 7200).token);
  // Not yet valid (iat far in the future).
  attacks.emplace_back("future iat",
                       auth::issue_token(test_key(), alice.id, alice.name, auth::unix_now() + 3600).token);
  // Garbage of every shape.
  attacks.emplace_back("garbage", "garbage");
  attacks.emplace_back("two parts", good.header + "." + good.payload);
  attacks.emplace_back("bad base64", good.header + ".!!!." + good.signature);
  attacks.emplace_back("truncated signature", alice.token.substr(0, alice.token.size() - 3));
  attacks.emplace_back("huge", std::string(10000, 'a'));

  for (const auto& [what, token] : attacks) {
    expect_401(get("/tasks", token), what);
    expect_401(get("/tasks/" + alice_task["id"].get<std::string>(), token), what);
  }

  // Header shapes around the token.
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"basic scheme", "Basic " + alice.token},
      {"empty bearer", "Bearer "},
      {"no space", "Bearer" + alice.token},
      {"trailing junk", "Bearer " + alice.token + " x"},
  };
  for (const auto& [what, value] : headers)
    expect_401(send(Request{.method = "GET", .path = "/tasks", .headers = {{"Authorization", value}}}), what);
  expect_401(get("/tasks"), "missing");

  // The real tokens still work, lower-case scheme included.
  EXPECT_EQ(get("/tasks", alice.token).status, 200);
  EXPECT_EQ(
      send(Request{.method = "GET", .path = "/tasks", .headers = {{"Authorization", "bearer " + alice.token}}}).status,
      200);
}

TEST(Tokens, EveryAuthenticatedRouteNeedsOne) {
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"POST", "/add"},
      {"POST", "/delete"},
      {"DELETE", "/tasks/00000000-0000-4000-8000-000000000000"},
      {"GET", "/tasks"},
      {"GET", "/tasks/00000000-0000-4000-8000-000000000000"},
      {"GET", "/download?id=00000000-0000-4000-8000-000000000000"},
      {"GET", "/stats"},
      {"POST", "/sign-out"}};
  for (const auto& [method, path] : routes) {
    SCOPED_TRACE(method + " " + path);
    const Response r = send(Request{
        .method = method, .path = path, .body = "{}", .content_type = method == "POST" ? "application/json" : ""});
    expect_401(r, method + " " + path);
  }
}

}  // namespace
}  // namespace fractal::server::testing
