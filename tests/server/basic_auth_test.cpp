// The HTTP Basic decoder of GET /sign-in (server/basic_auth.h); fuzzed by
// bench/fuzz/basic_auth_fuzz.cpp, whose findings become cases here.
#include <gtest/gtest.h>

#include "server/basic_auth.h"

namespace fractal::server {
namespace {

TEST(BasicAuth, DecodesRfc7617Credentials) {
  const BasicAuthResult r = parse_basic_authorization("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  ASSERT_TRUE(r.credentials) << r.error;
  EXPECT_EQ(r.credentials->username, "Aladdin");
  EXPECT_EQ(r.credentials->password, "open sesame");
  EXPECT_TRUE(r.error.empty());
}

TEST(BasicAuth, SchemeIsCaseInsensitiveAndSpacesMayFollowIt) {
  for (const char* h : {"basic YWRhOnM6ZWNyZXQ=", "BASIC YWRhOnM6ZWNyZXQ=", "Basic    YWRhOnM6ZWNyZXQ="}) {
    const BasicAuthResult r = parse_basic_authorization(h);
    ASSERT_TRUE(r.credentials) << h;
    EXPECT_EQ(r.credentials->username, "ada");
    EXPECT_EQ(r.credentials->password, "s:ecret");  // the first ':' separates
  }
}

TEST(BasicAuth, RefusesOtherSchemesAndMalformedBase64) {
  for (const char* h : {"", "Basic", "Basic ", "Bearer YWRhOnNlY3JldA==", "Basic YWRhOnNlY3JldA",  // no padding
                        "Basic YWRh", /* no colon */ "Basic YW=hOnNlY3JldA==", "Basic YWRhOnNlY3JldA==?",
                        "Basic ====", "Basic A==="}) {
    const BasicAuthResult r = parse_basic_authorization(h);
    EXPECT_FALSE(r.credentials) << h;
    EXPECT_FALSE(r.error.empty()) << h;
  }
}

TEST(BasicAuth, Base64IsStrict) {
  EXPECT_EQ(base64_decode("YQ=="), "a");
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_EQ(base64_decode("YWJj"), "abc");
  EXPECT_FALSE(base64_decode(""));
  EXPECT_FALSE(base64_decode("YQ="));
  EXPECT_FALSE(base64_decode("Y==="));
  EXPECT_FALSE(base64_decode("YQ==YQ=="));
}

}  // namespace
}  // namespace fractal::server
