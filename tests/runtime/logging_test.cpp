#include <gtest/gtest.h>

#include "runtime/backoff.h"
#include "runtime/logging.h"

namespace fractal::runtime {
namespace {

using namespace std::chrono_literals;

TEST(LogValue, PlainTokensStayAsTheyAre) {
  EXPECT_EQ(log_value("cpu:avx2"), "cpu:avx2");
  EXPECT_EQ(log_value("/tasks/abc"), "/tasks/abc");
}

TEST(LogValue, QuotedAndEscapedWhenNeeded) {
  EXPECT_EQ(log_value(""), "\"\"");
  EXPECT_EQ(log_value("cpu:avx512 x2"), "\"cpu:avx512 x2\"");
  EXPECT_EQ(log_value("a=b"), "\"a=b\"");
  EXPECT_EQ(log_value("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(log_value("back\\slash"), "\"back\\\\slash\"");
  EXPECT_EQ(log_value("two\nlines\r\tx"), "\"two\\nlines\\r\\tx\"");
  EXPECT_EQ(log_value(std::string_view("nul\0esc\x1b", 8)), "\"nul\\x00esc\\x1b\"");
  EXPECT_EQ(log_value("caf\xc3\xa9"), "\"caf\\xc3\\xa9\"");
}

TEST(LogValue, LongValuesAreCut) {
  const std::string v = log_value(std::string(5000, 'a'));
  EXPECT_EQ(v.size(), kLogValueMax + 5);  // quotes and "..."
  EXPECT_EQ(v.substr(v.size() - 4), "...\"");
}

TEST(LogValue, OneLineAlways) {
  for (int c = 0; c < 256; ++c) {
    const std::string v = log_value(std::string(1, static_cast<char>(c)) + " x");
    EXPECT_EQ(v.find('\n'), std::string::npos);
    EXPECT_EQ(v.find('\r'), std::string::npos);
  }
}

TEST(Backoff, DoublesUpToMaxAndResets) {
  Backoff b(100ms, 350ms);
  EXPECT_EQ(b.next(), 100ms);
  EXPECT_EQ(b.next(), 200ms);
  EXPECT_EQ(b.next(), 350ms);
  EXPECT_EQ(b.next(), 350ms);
  b.reset();
  EXPECT_EQ(b.next(), 100ms);
}

}  // namespace
}  // namespace fractal::runtime
