#include <gtest/gtest.h>

#include <string>

#include "auth/credentials.h"

namespace fractal::auth {
namespace {

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

void expect_username_error(std::string_view u) {
  const auto e = validate_username(u);
  ASSERT_TRUE(e.has_value()) << "accepted username '" << u << "'";
  EXPECT_EQ(e->field, "username");
  EXPECT_EQ(e->message.rfind("username", 0), 0u) << e->message;
}

void expect_password_error(std::string_view p) {
  const auto e = validate_password(p);
  ASSERT_TRUE(e.has_value()) << "accepted password '" << p << "'";
  EXPECT_EQ(e->field, "password");
  EXPECT_EQ(e->message.rfind("password", 0), 0u) << e->message;
}

TEST(Username, LengthBoundaries) {
  expect_username_error("");
  expect_username_error("ab");
  EXPECT_FALSE(validate_username("abc"));
  EXPECT_FALSE(validate_username(repeat("a", 32)));
  expect_username_error(repeat("a", 33));
}

TEST(Username, AllowedCharacters) {
  EXPECT_FALSE(validate_username("Alice_01.x-y"));
  EXPECT_FALSE(validate_username("..."));
  EXPECT_FALSE(validate_username("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
  EXPECT_FALSE(validate_username("abcdefghijklmnopqrstuvwxyz012345"));
}

TEST(Username, RejectsOtherCharacters) {
  for (const std::string u : {"al ice", "alice!", "al@ice", "al/ice", "al:ice", "al+ice", "alice\n", "\talice",
                              "ali%ce", "ali'ce", "ali\"ce", "ali\\ce", "ali~ce"}) {
    SCOPED_TRACE(u);
    expect_username_error(u);
  }
  expect_username_error(std::string("ali\0ce", 6));
  expect_username_error("\xc3\xa4lice");      // "älice": letters outside ASCII
  expect_username_error("\xd0\xb0lice");      // Cyrillic 'а' (homoglyph of 'a')
  expect_username_error("alic\xff");          // invalid UTF-8
}

TEST(Username, NormalizeIsAsciiLowercase) {
  EXPECT_EQ(normalize_username("MiXeD_User.9-Z"), "mixed_user.9-z");
  EXPECT_EQ(normalize_username("alice"), "alice");
  EXPECT_EQ(normalize_username("ALICE"), normalize_username("alice"));
}

TEST(Password, LengthBoundariesAscii) {
  expect_password_error("");
  expect_password_error(repeat("a", 7));
  EXPECT_FALSE(validate_password(repeat("a", 8)));
  EXPECT_FALSE(validate_password(repeat("a", 128)));
  expect_password_error(repeat("a", 129));
  expect_password_error(repeat("a", 100000));
}

TEST(Password, LengthCountsCodePointsNotBytes) {
  const std::string e_acute = "\xc3\xa9";          // é, 2 bytes
  const std::string euro = "\xe2\x82\xac";         // €, 3 bytes
  const std::string smile = "\xf0\x9f\x98\x80";    // 😀, 4 bytes
  expect_password_error(repeat(e_acute, 7));       // 14 bytes, 7 characters
  EXPECT_FALSE(validate_password(repeat(e_acute, 8)));
  EXPECT_FALSE(validate_password(repeat(euro, 128)));   // 384 bytes
  EXPECT_FALSE(validate_password(repeat(smile, 128)));  // 512 bytes
  expect_password_error(repeat(smile, 129));
  expect_password_error(repeat(euro, 129));
  EXPECT_EQ(utf8_length(repeat(smile, 3) + "ab"), 5u);
}

TEST(Password, RejectsWhitespace) {
  for (const std::string p : {"pass word1", "password\t", "\npassword", "password\r", "pass\vword",
                              "pass\fword", "pass\xc2\xa0word",  // U+00A0 no-break space
                              "pass\xe3\x80\x80word",            // U+3000 ideographic space
                              "pass\xe2\x80\xa8word",            // U+2028 line separator
                              "pass\xc2\x85word"}) {             // U+0085 next line
    SCOPED_TRACE(p);
    expect_password_error(p);
  }
  EXPECT_EQ(validate_password("pass word1")->message, "password must not contain whitespace");
}

TEST(Password, RejectsControlCharacters) {
  expect_password_error(std::string("pass\0word", 9));
  expect_password_error("pass\x01word");
  expect_password_error("pass\x7fword");
  expect_password_error("pass\xc2\x9bword");  // U+009B, C1 control
}

TEST(Password, RejectsInvalidUtf8) {
  for (const std::string p : {
           "password\xff",              // never valid
           "password\x80",              // lone continuation byte
           "pass\xc0\xafword",          // overlong '/'
           "pass\xe0\x80\xafword",      // overlong, 3 bytes
           "pass\xed\xa0\x80word",      // UTF-16 surrogate U+D800
           "pass\xf4\x90\x80\x80word",  // above U+10FFFF
           "password\xe2\x82",          // truncated
           "pass\xf8\x88\x80\x80\x80w"  // 5-byte form
       }) {
    SCOPED_TRACE(p);
    expect_password_error(p);
    EXPECT_FALSE(utf8_length(p).has_value());
  }
  EXPECT_EQ(validate_password("password\xff")->message, "password must be valid UTF-8");
}

TEST(Password, AcceptsPrintableUnicode) {
  EXPECT_FALSE(validate_password("correct-horse-battery-staple"));
  EXPECT_FALSE(validate_password("P@ssw0rd!#$%^&*()"));
  EXPECT_FALSE(validate_password("\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c\xd0\xbf\xd0\xb0\xd1\x80"));  // Cyrillic
  EXPECT_FALSE(validate_password("\xe5\xaf\x86\xe7\xa0\x81\xe5\xaf\x86\xe7\xa0\x81\xe5\xaf\x86\xe7\xa0\x81\xe5\xaf\x86\xe7\xa0\x81"));  // 8 CJK
}

}  // namespace
}  // namespace fractal::auth
