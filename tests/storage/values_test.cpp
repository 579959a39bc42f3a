#include <gtest/gtest.h>

#include "storage/timestamp.h"
#include "storage/uuid.h"

namespace fractal::storage {
namespace {

TEST(Uuid, AcceptsOnlyTheHyphenatedHexForm) {
  EXPECT_TRUE(is_uuid("3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5c"));
  EXPECT_TRUE(is_uuid("3F2B8C1E-9D4A-4E7B-8A6C-5D1E2F3A4B5C"));
  EXPECT_FALSE(is_uuid("3f2b8c1e9d4a4e7b8a6c5d1e2f3a4b5c"));
  EXPECT_FALSE(is_uuid("{3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5c}"));
  EXPECT_FALSE(is_uuid("3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5"));
  EXPECT_FALSE(is_uuid("3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5z"));
  EXPECT_EQ(canonical_uuid("3F2B8C1E-9D4A-4E7B-8A6C-5D1E2F3A4B5C"), "3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5c");
  EXPECT_FALSE(canonical_uuid("nope"));
}

TEST(Timestamp, Rfc3339UtcWithMilliseconds) {
  EXPECT_EQ(to_rfc3339(from_unix_micros(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(to_rfc3339(from_unix_micros(1718000000123456)), "2024-06-10T06:13:20.123Z");
  EXPECT_EQ(to_rfc3339(from_unix_micros(-1000)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(to_rfc3339(from_unix_micros(951782400999999)), "2000-02-29T00:00:00.999Z");
}

}  // namespace
}  // namespace fractal::storage
