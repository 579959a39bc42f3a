#include <gtest/gtest.h>

#include "scheduler/stored_params.h"

namespace fractal::scheduler {
namespace {

using nlohmann::json;

// What the server stores is to_json(spec); the worker must read it back as the same spec.
TEST(StoredParams, ToJsonOfEveryKindOfSpecReadsBackUnchanged) {
  const json requests[] = {
      json::object(),
      {{"fractal", "julia"}, {"julia_c", {"-0.8", 0.156}}, {"format", "jpg"}, {"supersample", 2}},
      {{"center", {"-0.743643887037151", "0.131825904205330"}}, {"scale", "1e-9"}, {"precision", "double"}},
      {{"output", "iterations"}, {"format", "exr"}, {"max_iter", 1000}},
      {{"palette", {"#000000", "#ff8800", "#ffffff"}}, {"coloring", "histogram"}, {"format", "tiff"}},
  };
  for (const json& request : requests) {
    const ParseResult first = parse_task_spec(request);
    ASSERT_TRUE(first.ok()) << request.dump() << ": " << first.error->message;
    const json stored = to_json(*first.spec);
    const ParseResult again = parse_stored_params(stored);
    ASSERT_TRUE(again.ok()) << stored.dump() << ": " << again.error->message;
    EXPECT_EQ(to_json(*again.spec), stored);
  }
}

TEST(StoredParams, InvalidParamsStillFailWithTheFieldNamed) {
  const ParseResult r = parse_stored_params({{"width", 0}, {"julia_c", nullptr}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->field, "width");
  EXPECT_FALSE(parse_stored_params(json::array()).ok());
  EXPECT_FALSE(parse_stored_params("text").ok());
}

}  // namespace
}  // namespace fractal::scheduler
