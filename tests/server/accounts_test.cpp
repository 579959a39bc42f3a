// POST /sign-up, GET/POST /sign-in, POST /sign-out, lockout.
#include <algorithm>
#include <regex>

#include "auth/jwt.h"
#include "auth/password_hash.h"
#include "storage/users.h"
#include "tests/server/server_test_env.h"

namespace fractal::server::testing {
namespace {

const std::regex kRfc3339Utc(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)");

std::string basic(const std::string& user, const std::string& password) {
  return "Basic " + [](const std::string& in) {
    static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
      const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                         static_cast<unsigned char>(in[i + 2]);
      out += {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
    }
    if (i + 1 == in.size()) {
      const unsigned v = static_cast<unsigned char>(in[i]) << 16;
      out += {tbl[v >> 18], tbl[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
      const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
      out += {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], '='};
    }
    return out;
  }(user + ":" + password);
}

Response sign_in_basic(const std::string& authorization) {
  return send(Request{.method = "GET", .path = "/sign-in", .headers = {{"Authorization", authorization}}});
}

Response sign_in_json(const std::string& user, const std::string& password) {
  return post_json("/sign-in", {{"username", user}, {"password", password}});
}

TEST(SignUp, CreatesAccount) {
  const std::string name = unique_username("Alice");
  const Response r = post_json("/sign-up", {{"username", name}, {"password", kPassword}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
  ASSERT_TRUE(r.j.is_object());
  EXPECT_EQ(r.j.size(), 2u) << r.body;  // exactly {"username", "created_at"}
  EXPECT_EQ(r.j["username"], name);
  EXPECT_TRUE(std::regex_match(r.j["created_at"].get<std::string>(), kRfc3339Utc)) << r.body;
}

TEST(SignUp, UsernameTakenCaseInsensitively) {
  const std::string name = unique_username("Bob");
  ASSERT_EQ(post_json("/sign-up", {{"username", name}, {"password", kPassword}}).status, 201);
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  expect_error(post_json("/sign-up", {{"username", upper}, {"password", kPassword}}), 409, "username_taken");
  expect_error(post_json("/sign-up", {{"username", name}, {"password", "another-password"}}), 409, "username_taken");
}

TEST(SignUp, RejectsInvalidCredentialsNamingTheField) {
  struct Case {
    json body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{{"username", "ab"}, {"password", kPassword}}, "username"},
      {{{"username", std::string(33, 'a')}, {"password", kPassword}}, "username"},
      {{{"username", "has space"}, {"password", kPassword}}, "username"},
      {{{"username", "semi;colon"}, {"password", kPassword}}, "username"},
      {{{"username", unique_username()}, {"password", "short"}}, "password"},
      {{{"username", unique_username()}, {"password", "with space inside"}}, "password"},
      {{{"username", unique_username()}, {"password", std::string(129, 'x')}}, "password"},
      {{{"username", unique_username()}}, "password"},
      {{{"password", kPassword}}, "username"},
      {{{"username", 42}, {"password", kPassword}}, "username"},
      {{{"username", unique_username()}, {"password", kPassword}, {"email", "x@y"}}, "email"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.dump());
    const Response r = post_json("/sign-up", c.body);
    expect_error(r, 400, "invalid_parameter");
    EXPECT_EQ(r.j["error"].value("field", ""), c.field);
    EXPECT_NE(r.j["error"].value("message", "").find(c.field), std::string::npos);
  }
}

TEST(SignIn, BasicAndJsonIssueBearerTokens) {
  const std::string name = unique_username("carol");
  ASSERT_EQ(post_json("/sign-up", {{"username", name}, {"password", kPassword}}).status, 201);
  for (const Response& r : {sign_in_basic(basic(name, kPassword)), sign_in_json(name, kPassword)}) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.j.size(), 3u) << r.body;
    EXPECT_EQ(r.j["token_type"], "Bearer");
    EXPECT_EQ(r.j["expires_in"], 3600);
    EXPECT_FALSE(r.j["access_token"].get<std::string>().empty());
    EXPECT_EQ(r.header("Cache-Control"), "no-store");
    // The token works.
    EXPECT_EQ(get("/tasks", r.j["access_token"].get<std::string>()).status, 200);
  }
  // Case-insensitive username at sign-in too.
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  EXPECT_EQ(sign_in_json(upper, kPassword).status, 200);
}

TEST(SignIn, UnknownUserAndWrongPasswordLookTheSame) {
  const std::string name = unique_username("dave");
  ASSERT_EQ(post_json("/sign-up", {{"username", name}, {"password", kPassword}}).status, 201);
  using Clock = std::chrono::steady_clock;
  auto timed = [](const std::function<Response()>& f, Response* out) {
    const auto t0 = Clock::now();
    *out = f();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  Response wrong, unknown, wrong_basic, unknown_basic;
  double t_wrong = 1e9, t_unknown = 1e9;
  for (int i = 0; i < 3; ++i) {
    t_wrong = std::min(t_wrong, timed([&] { return sign_in_json(name, "wrong-password-1"); }, &wrong));
    t_unknown = std::min(t_unknown,
                         timed([&] { return sign_in_json(unique_username("ghost"), "wrong-password-1"); }, &unknown));
  }
  expect_error(wrong, 401, "invalid_credentials");
  expect_error(unknown, 401, "invalid_credentials");
  EXPECT_EQ(wrong.body, unknown.body);
  wrong_basic = sign_in_basic(basic(name, "wrong-password-1"));
  unknown_basic = sign_in_basic(basic(unique_username("ghost"), "wrong-password-1"));
  expect_error(wrong_basic, 401, "invalid_credentials");
  EXPECT_EQ(wrong_basic.body, unknown_basic.body);
  EXPECT_EQ(wrong_basic.header("WWW-Authenticate").rfind("Basic", 0), 0u) << wrong_basic.header("WWW-Authenticate");
  // A JSON sign-in is made by a page: a Basic challenge would make the browser
  // show its own login dialog instead of the page's error.
  for (const Response* r : {&wrong, &unknown}) {
    for (const auto& [name, value] : r->headers)
      if (name == "www-authenticate") {
        EXPECT_EQ(value.find("Basic"), std::string::npos) << value;
      }
  }
  // Both pay for one Argon2id verification (~20 ms here): within a generous factor.
  EXPECT_GT(t_unknown, 0.33 * t_wrong) << "unknown " << t_unknown << " ms, wrong " << t_wrong << " ms";
  EXPECT_LT(t_unknown, 3.0 * t_wrong) << "unknown " << t_unknown << " ms, wrong " << t_wrong << " ms";
}

TEST(SignIn, BasicHeaderProblemsAre401WithBasicChallenge) {
  for (const std::string& auth : {std::string(), std::string("Bearer abc"), std::string("Basic !!!notbase64"),
                                  std::string("Basic ") + "bm9jb2xvbg==" /* "nocolon" */}) {
    SCOPED_TRACE(auth);
    const Response r = auth.empty() ? get("/sign-in") : sign_in_basic(auth);
    expect_error(r, 401, "invalid_credentials");
    EXPECT_EQ(r.header("WWW-Authenticate").rfind("Basic", 0), 0u);
  }
}

TEST(SignIn, JsonBodyRules) {
  expect_error(post_json("/sign-in", {{"username", "x"}}), 400, "invalid_parameter");
  const Response unknown = post_json("/sign-in", {{"username", "x"}, {"password", "y"}, {"remember", true}});
  expect_error(unknown, 400, "invalid_parameter");
  EXPECT_EQ(unknown.j["error"]["field"], "remember");
}

TEST(SignIn, LockoutAfterFiveFailuresPerUsername) {
  const std::string name = unique_username("Eve");
  const std::string other = unique_username("frank");
  ASSERT_EQ(post_json("/sign-up", {{"username", name}, {"password", kPassword}}).status, 201);
  ASSERT_EQ(post_json("/sign-up", {{"username", other}, {"password", kPassword}}).status, 201);
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  for (int i = 1; i <= 5; ++i) {
    SCOPED_TRACE(i);
    // Alternate spellings: the counter is per username, case-insensitively.
    const Response r = i % 2 ? sign_in_json(name, "bad-password-x") : sign_in_basic(basic(upper, "bad-password-x"));
    expect_error(r, 401, "invalid_credentials");
  }
  for (const Response& r : {sign_in_json(name, kPassword), sign_in_basic(basic(upper, kPassword))}) {
    expect_error(r, 429, "too_many_attempts");
    ASSERT_TRUE(r.has_header("Retry-After"));
    const int retry = std::stoi(r.header("Retry-After"));
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, 15 * 60);
  }
  // Other users are unaffected.
  EXPECT_EQ(sign_in_json(other, kPassword).status, 200);
}

TEST(SignIn, SuccessBeforeLockoutForgivesEarlierFailures) {
  const std::string name = unique_username("gina");
  ASSERT_EQ(post_json("/sign-up", {{"username", name}, {"password", kPassword}}).status, 201);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(sign_in_json(name, "bad-password-x").status, 401);
  EXPECT_EQ(sign_in_json(name, kPassword).status, 200);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sign_in_json(name, "bad-password-x").status, 401) << i;
  EXPECT_EQ(sign_in_json(name, kPassword).status, 429);
}

TEST(SignOut, RevokesTheTokenUntilItExpires) {
  const User u = new_user("henry");
  const Response other_token = sign_in_json(u.name, kPassword);
  ASSERT_EQ(other_token.status, 200);
  ASSERT_EQ(get("/tasks", u.token).status, 200);
  const Response out = send(Request{.method = "POST", .path = "/sign-out", .token = u.token});
  EXPECT_EQ(out.status, 204) << out.body;
  EXPECT_TRUE(out.body.empty());
  for (const Response& r :
       {get("/tasks", u.token), send(Request{.method = "POST", .path = "/sign-out", .token = u.token})}) {
    expect_error(r, 401, "invalid_token");
    EXPECT_EQ(r.header("WWW-Authenticate").rfind("Bearer", 0), 0u);
  }
  // Only that token: the user's other session still works.
  EXPECT_EQ(get("/tasks", other_token.j["access_token"].get<std::string>()).status, 200);
}

TEST(SignOut, NeedsAToken) {
  const Response r = send(Request{.method = "POST", .path = "/sign-out"});
  expect_error(r, 401, "unauthorized");
  EXPECT_EQ(r.header("WWW-Authenticate").rfind("Bearer", 0), 0u);
}

TEST(SignIn, AWeakerHashIsReplacedAtTheNextSignIn) {
  // As if stored by an older release with cheaper parameters (m = 8 MiB, t = 1).
  const auth::PasswordHasher old_hasher(auth::Argon2Params{1, 8u * 1024 * 1024});
  const std::string name = unique_username("rehash");
  storage::UserRepo users(pool());
  const std::string weak = old_hasher.hash(kPassword);
  ASSERT_EQ(users.create(name, weak).status, storage::UserCreateStatus::created);
  ASSERT_TRUE(auth::default_hasher().needs_rehash(weak));

  expect_error(post_json("/sign-in", {{"username", name}, {"password", "wrong-password-1"}}), 401, "invalid_credentials");
  EXPECT_EQ(users.find_by_username(name)->password_hash, weak) << "a failed sign-in changes nothing";

  ASSERT_EQ(post_json("/sign-in", {{"username", name}, {"password", kPassword}}).status, 200);
  const std::string now = users.find_by_username(name)->password_hash;
  EXPECT_NE(now, weak);
  EXPECT_NE(now.find("m=19456,t=2,p=1"), std::string::npos) << now;
  EXPECT_FALSE(auth::default_hasher().needs_rehash(now));
  EXPECT_EQ(post_json("/sign-in", {{"username", name}, {"password", kPassword}}).status, 200);  // still the same password
}

}  // namespace
}  // namespace fractal::server::testing
