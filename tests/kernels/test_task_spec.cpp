// The shared TaskSpec parser: defaults, every limit, every error naming its field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kernels/color/palette.h"
#include "kernels/task_spec.h"

namespace fractal {
namespace {

using nlohmann::json;

FieldError error_of(const json& body) {
  ParseResult r = parse_task_spec(body);
  EXPECT_FALSE(r.ok()) << body.dump();
  return r.error.value_or(FieldError{});
}

void expect_field_error(const json& body, const std::string& field, int status = 400) {
  const FieldError e = error_of(body);
  EXPECT_EQ(e.field, field) << body.dump() << " -> " << e.message;
  EXPECT_EQ(e.http_status, status) << body.dump();
  EXPECT_EQ(e.code, status == 422 ? "zoom_too_deep" : "invalid_parameter");
  if (!field.empty()) EXPECT_EQ(e.message.rfind(field, 0), 0u) << "message must start with the field: " << e.message;
}

TEST(TaskSpec, DefaultsForMandelbrot) {
  ParseResult r = parse_task_spec(json::object());
  ASSERT_TRUE(r.ok());
  const TaskSpec& s = *r.spec;
  EXPECT_EQ(s.fractal, FractalKind::mandelbrot);
  EXPECT_EQ(s.width, 800);
  EXPECT_EQ(s.height, 600);
  EXPECT_EQ(s.center[0].value, -0.5);
  EXPECT_EQ(s.center[1].value, 0.0);
  EXPECT_EQ(s.scale.value, 3.0);
  EXPECT_EQ(s.max_iter, 500);
  EXPECT_FALSE(s.julia_c.has_value());
  EXPECT_EQ(s.output, OutputKind::image);
  EXPECT_EQ(s.format, ImageFormat::png);
  EXPECT_EQ(s.palette_name, "classic");
  EXPECT_EQ(s.palette_stops, find_palette("classic")->stops);
  EXPECT_EQ(s.coloring, Coloring::smooth);
  EXPECT_EQ(s.supersample, 1);
  EXPECT_EQ(s.precision, Precision::automatic);
  const json echo = to_json(s);
  EXPECT_EQ(echo["center"], json::array({-0.5, 0.0}));
  EXPECT_EQ(echo["julia_c"], nullptr);
  EXPECT_EQ(echo["palette"], "classic");
  EXPECT_EQ(echo.size(), task_fields().size());
}

TEST(TaskSpec, EchoedParamsParseBackUnchanged) {
  for (const json& body : {json::object(), json{{"fractal", "julia"}, {"julia_c", {-0.8, "0.156"}}, {"scale", "1e-3"}},
                           json{{"palette", {"#000000", "#ffffff"}}, {"output", "iterations"}, {"format", "exr"}}}) {
    const json echo = to_json(*parse_task_spec(body).spec);
    ParseResult again = parse_task_spec(echo);
    ASSERT_TRUE(again.ok()) << echo.dump() << " -> " << again.error->message;
    EXPECT_EQ(to_json(*again.spec), echo);
  }
  EXPECT_TRUE(parse_task_spec(json{{"julia_c", nullptr}}).ok());  // null julia_c = not given
  expect_field_error(json{{"fractal", "julia"}, {"julia_c", nullptr}}, "julia_c");
}

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
    const ParseResult again = parse_task_spec(stored);
    ASSERT_TRUE(again.ok()) << stored.dump() << ": " << again.error->message;
    EXPECT_EQ(to_json(*again.spec), stored);
  }
}

TEST(StoredParams, InvalidParamsStillFailWithTheFieldNamed) {
  const ParseResult r = parse_task_spec({{"width", 0}, {"julia_c", nullptr}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->field, "width");
  EXPECT_FALSE(parse_task_spec(json::array()).ok());
  EXPECT_FALSE(parse_task_spec("text").ok());
}

TEST(TaskSpec, DefaultsForJulia) {
  ParseResult r = parse_task_spec(json{{"fractal", "julia"}, {"julia_c", {-0.8, "0.156"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.spec->center[0].value, 0.0);
  EXPECT_EQ(r.spec->scale.value, 3.2);
  EXPECT_EQ((*r.spec->julia_c)[1].value, 0.156);
  EXPECT_EQ(to_json(*r.spec)["julia_c"], json::array({-0.8, "0.156"}));  // decimal strings echoed as given
}

TEST(TaskSpec, DecimalStrings) {
  ParseResult r = parse_task_spec(json{{"center", {"-0.743643887037158704752191506114774", "0.1318259"}},
                                       {"scale", "1.5e-3"}});
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r.spec->center[0].value, -0.743643887037158704752191506114774);
  EXPECT_DOUBLE_EQ(r.spec->scale.value, 1.5e-3);
  for (const char* bad : {"", "abc", "1e", "--1", "1.2.3", " 1", "1 ", "inf", "nan", "0x10", "1e999", "."})
    expect_field_error(json{{"scale", bad}}, "scale");
  expect_field_error(json{{"center", {"1", "nan"}}}, "center");
}

TEST(TaskSpec, Limits) {
  EXPECT_TRUE(parse_task_spec(json{{"width", 1}, {"height", 1}}).ok());
  EXPECT_TRUE(parse_task_spec(json{{"width", 16384}, {"height", 4096}}).ok());  // exactly 67,108,864
  expect_field_error(json{{"width", 16384}, {"height", 4097}}, "width");
  expect_field_error(json{{"height", 16385}}, "height");
  expect_field_error(json{{"width", 0}}, "width");
  expect_field_error(json{{"width", -5}}, "width");
  expect_field_error(json{{"width", 800.5}}, "width");
  expect_field_error(json{{"width", "800"}}, "width");
  expect_field_error(json{{"width", 1e12}}, "width");
  expect_field_error(json{{"width", 18446744073709551615ULL}}, "width");
  EXPECT_TRUE(parse_task_spec(json{{"max_iter", 1}}).ok());
  EXPECT_TRUE(parse_task_spec(json{{"max_iter", 1000000}}).ok());
  expect_field_error(json{{"max_iter", 0}}, "max_iter");
  expect_field_error(json{{"max_iter", 1000001}}, "max_iter");
  expect_field_error(json{{"scale", 0}}, "scale");
  expect_field_error(json{{"scale", -1}}, "scale");
  expect_field_error(json{{"scale", true}}, "scale");
  expect_field_error(json{{"center", {1}}}, "center");
  expect_field_error(json{{"center", {1, 2, 3}}}, "center");
  expect_field_error(json{{"center", "0,0"}}, "center");
  expect_field_error(json{{"supersample", 0}}, "supersample");
  expect_field_error(json{{"supersample", 5}}, "supersample");
  EXPECT_TRUE(parse_task_spec(json{{"supersample", 4}}).ok());
}

TEST(TaskSpec, EnumsAndPalettes) {
  expect_field_error(json{{"fractal", "burning_ship"}}, "fractal");
  expect_field_error(json{{"format", "gif"}}, "format");
  expect_field_error(json{{"coloring", "random"}}, "coloring");
  expect_field_error(json{{"precision", "half"}}, "precision");
  expect_field_error(json{{"output", "counts"}}, "output");
  expect_field_error(json{{"palette", "nope"}}, "palette");
  expect_field_error(json{{"palette", json::array({"#ffffff"})}}, "palette");
  expect_field_error(json{{"palette", json::array({"#ffffff", "red"})}}, "palette");
  expect_field_error(json{{"palette", json::array({"#ffffff", "#12345"})}}, "palette");
  expect_field_error(json{{"palette", 3}}, "palette");
  ParseResult r = parse_task_spec(json{{"palette", json::array({"#000000", "#FF8000", "#ffffff"})}});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.spec->palette_name.empty());
  ASSERT_EQ(r.spec->palette_stops.size(), 3u);
  EXPECT_EQ(r.spec->palette_stops[1], (Rgb8{255, 128, 0}));
  EXPECT_EQ(to_json(*r.spec)["palette"], json::array({"#000000", "#ff8000", "#ffffff"}));
  for (const auto& p : builtin_palettes()) EXPECT_TRUE(parse_task_spec(json{{"palette", p.name}}).ok()) << p.name;
  EXPECT_GE(builtin_palettes().size(), 6u);
}

TEST(TaskSpec, CrossFieldRules) {
  expect_field_error(json{{"fractal", "julia"}}, "julia_c");
  expect_field_error(json{{"julia_c", {0, 0}}}, "julia_c");
  expect_field_error(json{{"output", "iterations"}}, "format");
  expect_field_error(json{{"output", "iterations"}, {"format", "jpg"}}, "format");
  expect_field_error(json{{"output", "iterations"}, {"format", "exr"}, {"supersample", 2}}, "supersample");
  EXPECT_TRUE(parse_task_spec(json{{"output", "iterations"}, {"format", "tiff"}}).ok());
}

TEST(TaskSpec, UnknownNullAndNonObject) {
  expect_field_error(json{{"widht", 100}}, "widht");
  expect_field_error(json{{"width", nullptr}}, "width");
  expect_field_error(json::array(), "");
  expect_field_error(json("text"), "");
  EXPECT_FALSE(parse_task_spec_text("{\"width\": ").ok());
  EXPECT_EQ(parse_task_spec_text("{\"width\": ").error->field, "");
  EXPECT_TRUE(parse_task_spec_text("{\"width\": 64, \"height\": 48}").ok());
}

TEST(TaskSpec, DeepBelowTheDoubleThresholdZoomTooDeepOnlyBelow1e10000) {
  // Spacing scale/width below 2^-44 * max(1, |center|): double cannot resolve it,
  // auto picks deep; explicit double or float is refused naming precision.
  const double limit = std::ldexp(1.0, -44);
  auto used = [](const json& body) { return precision_used(*parse_task_spec(body).spec); };
  EXPECT_EQ(used(json{{"width", 1000}, {"scale", 1000 * limit * 1.01}}), Scalar::f64);
  EXPECT_EQ(used(json{{"width", 1000}, {"scale", 1000 * limit * 0.99}}), Scalar::deep);
  EXPECT_EQ(used(json{{"width", 1000}, {"center", {-1.5, 0}}, {"scale", 1000 * limit * 1.2}}), Scalar::deep);
  expect_field_error(json{{"width", 1000}, {"scale", 1000 * limit * 0.99}, {"precision", "double"}}, "precision");
  expect_field_error(json{{"scale", "1e-10001"}}, "scale", 422);
  EXPECT_TRUE(parse_task_spec(json{{"scale", "1e-10000"}}).ok());
}

TEST(TaskSpec, AutoPrecision) {
  auto used = [](const json& body) { return precision_used(*parse_task_spec(body).spec); };
  EXPECT_EQ(used(json{{"max_iter", 64}}), Scalar::f32);                     // coarse and short orbits
  EXPECT_EQ(used(json::object()), Scalar::f64);                             // max_iter 500: float drifts
  EXPECT_EQ(used(json{{"max_iter", 50}, {"scale", 1e-3}}), Scalar::f64);    // zoomed in
  EXPECT_EQ(used(json{{"max_iter", 50}, {"width", 16384}, {"height", 100}}), Scalar::f64);  // fine spacing
  EXPECT_EQ(used(json{{"scale", 1e-6}, {"precision", "float"}}), Scalar::f32);  // explicit wins
  EXPECT_EQ(used(json{{"precision", "double"}}), Scalar::f64);
}

}  // namespace
}  // namespace fractal
