// TaskSpec: the validated render parameters of docs/api.md, and the one
// table-driven parser shared by the CLI and the server.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace fractal {

enum class FractalKind { mandelbrot, julia };
enum class OutputKind { image, iterations };
enum class ImageFormat { png, jpg, tiff, exr };
enum class Coloring { smooth, bands, histogram };
enum class Precision { automatic, single, dual, deep };  // "auto", "float", "double", "deep"
enum class Scalar { f32, f64, deep };                    // what a kernel actually runs

// Limits of docs/api.md ("Parameters").
inline constexpr int kMaxSide = 16384;
inline constexpr std::int64_t kMaxPixels = 67'108'864;
inline constexpr int kMaxIter = 1'000'000;
inline constexpr int kMaxSupersample = 4;
// Deep zoom: decimal strings of up to this many significant digits, scale down to 1e-10000.
inline constexpr std::size_t kMaxDecimalDigits = 10'000;
inline constexpr int kMinScaleExp10 = -10'000;

struct Rgb8 {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const Rgb8&, const Rgb8&) = default;
};

// A number that may have been given as a decimal string: `text` keeps the
// caller's spelling (echoed back unchanged, and what a deep render reads at
// full precision), `value` is what double resolves (0 when it underflows, e.g.
// "1e-1000"), `log2_abs` is log2 |x| to about 12 significant digits whatever
// the exponent (-infinity for 0).
struct Decimal {
  double value = 0.0;
  std::string text;  // empty when given as a JSON number
  double log2_abs = -HUGE_VAL;
};

struct TaskSpec {
  FractalKind fractal = FractalKind::mandelbrot;
  int width = 800;
  int height = 600;
  std::array<Decimal, 2> center{};  // re, im
  Decimal scale{3.0, {}, 1.584962500721156};
  int max_iter = 500;
  std::optional<std::array<Decimal, 2>> julia_c;
  OutputKind output = OutputKind::image;
  ImageFormat format = ImageFormat::png;
  std::string palette_name = "classic";  // empty when custom stops are given
  std::vector<Rgb8> palette_stops;       // resolved stops (named or custom)
  Coloring coloring = Coloring::smooth;
  int supersample = 1;
  Precision precision = Precision::automatic;

  // Pixel spacing of the output grid in the complex plane (0 when it underflows double).
  [[nodiscard]] double pixel_spacing() const { return scale.value / width; }
  // log2 of the pixel spacing, exact enough for the precision rules at any depth.
  [[nodiscard]] double pixel_spacing_log2() const { return scale.log2_abs - std::log2(static_cast<double>(width)); }
};

// A validation failure: `field` names the offending parameter (empty for a
// body that is not an object), `code` is the API error code.
struct FieldError {
  std::string code;     // "invalid_parameter" or "zoom_too_deep"
  std::string field;
  std::string message;  // human text, starts with the field name
  int http_status = 400;
};

struct ParseResult {
  std::optional<TaskSpec> spec;
  std::optional<FieldError> error;
  [[nodiscard]] bool ok() const { return spec.has_value(); }
};

// Parses and validates a JSON object with exactly the POST /add fields.
[[nodiscard]] ParseResult parse_task_spec(const nlohmann::json& body);
// Same, from JSON text (a syntax error is reported as invalid_parameter with an empty field).
[[nodiscard]] ParseResult parse_task_spec_text(std::string_view text);

// Every field, defaults filled in, as the task object's "params".
[[nodiscard]] nlohmann::json to_json(const TaskSpec& spec);

// precision "auto" picks float when the sample spacing is at least
// 2^-kFloatSpacingLog2 * max(1, |center| + scale) and max_iter <= kFloatMaxIter.
// Measured (tests/kernels AutoPrecisionRule, docs/api.md): float counts drift
// from double on boundary pixels as orbits lengthen; at max_iter 64 and spacing
// 2^-10 the worst boundary-rich view still matches >= 99.97 %, at max_iter 150
// even spacing 2^-7 drops below 99.9 %.
inline constexpr int kFloatSpacingLog2 = 10;
inline constexpr int kFloatMaxIter = 64;

// precision "auto" resolves to float only where float draws the same picture
// (rule in docs/api.md), to deep where double cannot resolve the pixel spacing
// (needs_deep); explicit choices are honoured.
[[nodiscard]] Scalar precision_used(const TaskSpec& spec);
// The pixel spacing scale/width is below 2^-44 * max(1, |center.re|, |center.im|).
[[nodiscard]] bool needs_deep(const TaskSpec& spec);

[[nodiscard]] std::string_view to_string(FractalKind v);
[[nodiscard]] std::string_view to_string(OutputKind v);
[[nodiscard]] std::string_view to_string(ImageFormat v);
[[nodiscard]] std::string_view to_string(Coloring v);
[[nodiscard]] std::string_view to_string(Precision v);
[[nodiscard]] std::string_view to_string(Scalar v);
[[nodiscard]] std::string_view file_extension(ImageFormat v);  // "png", "jpg", "tiff", "exr"
[[nodiscard]] std::string_view content_type(ImageFormat v);    // "image/png", ...

// The field table, for the CLI's flags and docs/api.md.
struct FieldInfo {
  std::string_view name;
  std::string_view type;        // "int", "number", "enum", "pair", "palette"
  std::string_view default_text;
  std::string_view rule;        // human-readable limits
};
[[nodiscard]] const std::vector<FieldInfo>& task_fields();

}  // namespace fractal
