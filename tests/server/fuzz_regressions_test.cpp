// Inputs the libFuzzer harnesses of bench/fuzz found, as unit tests (each
// failed before its fix). The harnesses' invariants are checked here on them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "server/api_error.h"
#include "server/basic_auth.h"
#include "server/pistache_handler.h"
#include "server/tile_query.h"

namespace fractal::server {
namespace {

using namespace std::string_literals;

// basic_auth_fuzz: "XP==" decoded to "\x5c" although its padding bits are not
// zero, so two spellings gave one byte string (canonical: "XA==").
TEST(FuzzRegressions, Base64WithNonZeroPaddingBitsIsRefused) {
  EXPECT_FALSE(base64_decode("XP=="));
  EXPECT_EQ(base64_decode("XA=="), std::string("\x5c"));
  EXPECT_FALSE(base64_decode("QR=="));
  EXPECT_EQ(base64_decode("QQ=="), "A");
  EXPECT_FALSE(base64_decode("YWJ="));
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_FALSE(parse_basic_authorization("Basic YWRhOnB3ZP==").credentials);  // "ada:pwd" with a stray bit
  EXPECT_TRUE(parse_basic_authorization("Basic YWRhOnB3ZA==").credentials);
}

// http_guard_fuzz: an unknown method that is not UTF-8 made the guard's JSON
// answer throw (nlohmann type_error 316) out of Pistache's transport thread,
// which ended the server process. tests/server conventions_test.cpp sends it
// to the running server too.
TEST(FuzzRegressions, GuardAnswersANonUtf8MethodWithJson) {
  const std::string head = "PU\xf7\xff\xff\xffT /x HTTP/1.1\r\nHost: h\r\n\r\n";
  const HeadVerdict v = inspect_head(head, TransportLimits{});
  EXPECT_EQ(v.status, 501);
  std::string answer;
  ASSERT_NO_THROW(answer = raw_json_error_response(v.status, v.code, v.message));
  const auto body = nlohmann::json::parse(answer.substr(answer.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["error"]["code"], "not_implemented");
}

// tile_query_fuzz: a query parameter with an empty name ("?&", "?=x") was
// refused with an empty field and a message starting with ":".
TEST(FuzzRegressions, TileQueryParameterWithoutAName) {
  EXPECT_NO_THROW((void)parse_tile_query("1", "0", "1.png", {{"", ""}, {"palette", "ocean"}}));
  try {
    (void)parse_tile_query("1", "0", "1.png", {{"", "x"}});
    ADD_FAILURE() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.field(), "query");
    EXPECT_EQ(std::string(e.what()).rfind("query: ", 0), 0u) << e.what();
  }
}

// http_guard_fuzz: a bare CR inside a header value passed the guard, and
// Pistache's parser then answered in plain text. Control characters other
// than HTAB in a value or in the request line are refused.
TEST(FuzzRegressions, GuardRefusesControlCharacters) {
  const std::string found =
      "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\"Exp\xca\x07\x00\x00\x80`\x00\x00" "ect: 100-contiwue\r\n"
      "Host: h:0\r\n\r\n"s;
  ASSERT_EQ(found.size(), 88u);
  EXPECT_EQ(inspect_head(found, TransportLimits{}).status, 400);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nX-A: a\x01" "b\r\n\r\n", TransportLimits{}).status, 400);
  EXPECT_EQ(inspect_head("GET /\0 HTTP/1.1\r\n\r\n"s, TransportLimits{}).status, 400);
  // The 10^6-execution run: a CR just before the CRLF (trim() used to drop it).
  EXPECT_EQ(inspect_head("PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\r\nHost: h\r\n\r\n", TransportLimits{}).status,
            400);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nX-A: a\tb \xc3\xa9\r\n\r\n", TransportLimits{}).status, 0);  // HTAB, obs-text
}

// http_guard_fuzz: a Transfer-Encoding other than chunked passed the guard
// and Pistache answered it with a text 501.
TEST(FuzzRegressions, GuardRefusesTransferEncodingsOtherThanChunked) {
  const std::string found = "PUT /x HTTP/1.1\r\nTransfer-Encoding:(POSTked\r\nExpect: 100-continue\r\nHost: h:1\r\n\r\n";
  EXPECT_EQ(inspect_head(found, TransportLimits{}).status, 501);
  EXPECT_EQ(inspect_head("POST /add HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", TransportLimits{}).status, 501);
  EXPECT_EQ(inspect_head("POST /add HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", TransportLimits{}).status, 0);
}

// http_guard_fuzz (bench/fuzz/open/http_guard-invalid-port until fixed):
// repeated Host lines such as "Host: x@OST /afd HTTP/1.1" passed the guard and
// Pistache's parser answered "Invalid port" in text.
TEST(FuzzRegressions, GuardRefusesRepeatedOrInvalidHostHeaders) {
  const std::string found =
      "POST /add HTTP/1.1\r\nHost: x@OST /afd HTTP/1.1\r\nHost:x@ -a/add HTTP/1.1\r\n\r\n";
  EXPECT_EQ(inspect_head(found, TransportLimits{}).status, 400);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", TransportLimits{}).status, 400);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost: user@h\r\n\r\n", TransportLimits{}).status, 400);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost: h /x\r\n\r\n", TransportLimits{}).status, 400);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", TransportLimits{}).status, 0);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", TransportLimits{}).status, 0);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost: fractal.example.com\r\n\r\n", TransportLimits{}).status, 0);
}

// http_guard_fuzz (10^6 run after the fix above, 848,204 executions in): the guard
// gave Pistache's Host parser the value trimmed; Pistache's request parser gives it
// the trailing whitespace too and threw "Invalid port: 2 " (answered in text).
TEST(FuzzRegressions, GuardParsesHeaderValuesAsPistacheWill) {
  const std::string found =
      "POST \xd9" "add HTTP/1.1\r\nHost: xpplictrWan%sfer-expec*****t-Leng:2 \r\n\r\n{}";
  EXPECT_EQ(inspect_head(found, TransportLimits{}).status, 400);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost: h:2 \r\n\r\n", TransportLimits{}).status, 400);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost: h:2\t\r\n\r\n", TransportLimits{}).status, 400);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost:   h:2\r\n\r\n", TransportLimits{}).status, 0);
  EXPECT_EQ(inspect_head("GET / HTTP/1.1\r\nHost: h \r\n\r\n", TransportLimits{}).status, 0);
}

// tile_query_fuzz: an unknown parameter whose name starts with NUL gave an
// error whose message (a C string) was empty.
TEST(FuzzRegressions, ParameterNamesWithControlCharactersAreShownPrintable) {
  try {
    (void)parse_tile_query("0", "0", "0.png", {{"\0X\n"s, ""}});
    ADD_FAILURE() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.field(), "?X?");
    EXPECT_EQ(std::string(e.what()).rfind("?X?: unknown query parameter", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace fractal::server
