#include "kernels/task_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "kernels/color/palette.h"

namespace fractal {
namespace {

using nlohmann::json;

// ---- value parsers: each returns an error text (without the field name) or "".

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

constexpr EnumName<FractalKind> kFractals[] = {{"mandelbrot", FractalKind::mandelbrot}, {"julia", FractalKind::julia}};
constexpr EnumName<OutputKind> kOutputs[] = {{"image", OutputKind::image}, {"iterations", OutputKind::iterations}};
constexpr EnumName<ImageFormat> kFormats[] = {
    {"png", ImageFormat::png}, {"jpg", ImageFormat::jpg}, {"tiff", ImageFormat::tiff}, {"exr", ImageFormat::exr}};
constexpr EnumName<Coloring> kColorings[] = {
    {"smooth", Coloring::smooth}, {"bands", Coloring::bands}, {"histogram", Coloring::histogram}};
constexpr EnumName<Precision> kPrecisions[] = {
    {"auto", Precision::automatic}, {"float", Precision::single}, {"double", Precision::dual},
    {"deep", Precision::deep}};

template <class E, std::size_t N>
std::string parse_enum(const json& v, const EnumName<E> (&names)[N], E& out) {
  std::string choices;
  for (const auto& n : names) {
    if (!choices.empty()) choices += ", ";
    choices += '"';
    choices += n.name;
    choices += '"';
  }
  if (!v.is_string()) return "must be one of " + choices;
  const auto& s = v.get_ref<const std::string&>();
  for (const auto& n : names) {
    if (s == n.name) {
      out = n.value;
      return {};
    }
  }
  return "must be one of " + choices + " (got \"" + s.substr(0, 40) + "\")";
}

template <class E, std::size_t N>
std::string_view enum_name(const EnumName<E> (&names)[N], E value) {
  for (const auto& n : names)
    if (n.value == value) return n.name;
  return "?";
}

std::string parse_int(const json& v, std::int64_t lo, std::int64_t hi, int& out) {
  const std::string rule = "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (!v.is_number_integer()) return rule;
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi) || static_cast<std::int64_t>(u) < lo) return rule;
    out = static_cast<int>(u);
    return {};
  }
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi) return rule;
  out = static_cast<int>(x);
  return {};
}

// A finite number given as a JSON number or a plain decimal string
// ("-0.75", "1e-9", "1.5e-1200"; no hex, no inf/nan, no spaces). Strings keep
// up to kMaxDecimalDigits significant digits; values below double's range keep
// their exact text and their log2 (value is then 0).
std::string parse_decimal(const json& v, Decimal& out) {
  constexpr std::string_view rule = "must be a finite number or decimal string";
  if (v.is_number()) {
    out.value = v.get<double>();
    out.text.clear();
    if (!std::isfinite(out.value)) return std::string(rule);
    out.log2_abs = out.value == 0 ? -HUGE_VAL : std::log2(std::abs(out.value));
    return {};
  }
  if (!v.is_string()) return std::string(rule);
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > kMaxDecimalDigits + 32) {
    return s.empty() ? std::string(rule)
                     : "has more than " + std::to_string(kMaxDecimalDigits) + " significant digits";
  }
  // Grammar check first: from_chars alone would accept "inf", "nan" and hex-like forms.
  std::size_t i = 0, digits = 0;
  std::string lead;  // significant digits, leading zeros dropped
  long long point_shift = 0;  // exponent correction from the decimal point position
  bool seen_point = false;
  if (s[i] == '+' || s[i] == '-') ++i;
  auto take_digit = [&](char c) {
    ++digits;
    if (lead.empty() && c == '0') {
      if (seen_point) --point_shift;
      return;
    }
    lead.push_back(c);
    if (!seen_point) ++point_shift;
  };
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) take_digit(s[i++]);
  if (i < s.size() && s[i] == '.') {
    ++i;
    seen_point = true;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) take_digit(s[i++]);
  }
  if (digits == 0) return std::string(rule);
  long long exp10 = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    std::size_t exp_digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (exp10 < 100'000'000) exp10 = exp10 * 10 + (s[i] - '0');
      ++i, ++exp_digits;
    }
    if (exp_digits == 0) return std::string(rule);
    if (negative) exp10 = -exp10;
  }
  if (i != s.size()) return std::string(rule);
  while (!lead.empty() && lead.back() == '0') lead.pop_back();  // trailing zeros are not significant
  if (lead.size() > kMaxDecimalDigits)
    return "has more than " + std::to_string(kMaxDecimalDigits) + " significant digits";
  out.text = s;
  if (lead.empty()) {
    out.value = 0;
    out.log2_abs = -HUGE_VAL;
    return {};
  }
  // x = 0.<lead> * 10^(exp10 + point_shift)
  const long long e10 = exp10 + point_shift;
  if (e10 > 308) return std::string(rule) + " within double's range (|x| < 1e308)";
  if (e10 < -1'000'000) return std::string(rule) + " (exponent too small)";
  const double m = std::stod("0." + lead.substr(0, 17));  // in [0.1, 1)
  out.log2_abs = std::log2(m) + static_cast<double>(e10) * 3.321928094887362347870319429489390175864831393;
  const char* first = s.data() + (s[0] == '+' ? 1 : 0);
  double d = 0;
  auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), d);
  if (ec == std::errc::result_out_of_range && e10 < 0) {
    d = 0;  // below double's range: the text is the value
  } else if (ec != std::errc() || ptr != s.data() + s.size()) {
    return std::string(rule);
  }
  out.value = d;
  if (!std::isfinite(out.value)) return std::string(rule);
  return {};
}

Decimal decimal_of(double x) {
  return Decimal{x, {}, x == 0 ? -HUGE_VAL : std::log2(std::abs(x))};
}

std::string parse_pair(const json& v, std::array<Decimal, 2>& out) {
  constexpr std::string_view rule = "must be [re, im]: two finite numbers or decimal strings";
  if (!v.is_array() || v.size() != 2) return std::string(rule);
  for (std::size_t k = 0; k < 2; ++k)
    if (!parse_decimal(v[k], out[k]).empty()) return std::string(rule);
  return {};
}

constexpr std::size_t kMaxPaletteStops = 256;

std::string parse_palette(const json& v, TaskSpec& spec) {
  if (v.is_string()) {
    const auto& name = v.get_ref<const std::string&>();
    const NamedPalette* p = find_palette(name);
    if (p == nullptr) {
      std::string names;
      for (const auto& b : builtin_palettes()) names += (names.empty() ? "" : ", ") + std::string(b.name);
      return "unknown palette \"" + name.substr(0, 40) + "\" (one of: " + names + ", or a list of \"#rrggbb\" stops)";
    }
    spec.palette_name = name;
    spec.palette_stops = p->stops;
    return {};
  }
  const std::string rule = "must be a palette name or a list of 2 to " + std::to_string(kMaxPaletteStops) +
                           " \"#rrggbb\" colour stops";
  if (!v.is_array() || v.size() < 2 || v.size() > kMaxPaletteStops) return rule;
  std::vector<Rgb8> stops;
  for (std::size_t k = 0; k < v.size(); ++k) {
    std::optional<Rgb8> c;
    if (v[k].is_string()) c = parse_hex_colour(v[k].get_ref<const std::string&>());
    if (!c) return "stop " + std::to_string(k) + " is not a \"#rrggbb\" colour";
    stops.push_back(*c);
  }
  spec.palette_name.clear();
  spec.palette_stops = std::move(stops);
  return {};
}

// ---- the field table: one row per POST /add field.

struct FieldRow {
  FieldInfo info;
  std::function<std::string(const json&, TaskSpec&)> apply;
};

const std::vector<FieldRow>& table() {
  static const std::vector<FieldRow> rows = {
      {{"fractal", "enum", "\"mandelbrot\"", "\"mandelbrot\" or \"julia\""},
       [](const json& v, TaskSpec& s) { return parse_enum(v, kFractals, s.fractal); }},
      {{"width", "int", "800", "1-16384; width*height <= 67,108,864"},
       [](const json& v, TaskSpec& s) { return parse_int(v, 1, kMaxSide, s.width); }},
      {{"height", "int", "600", "1-16384; width*height <= 67,108,864"},
       [](const json& v, TaskSpec& s) { return parse_int(v, 1, kMaxSide, s.height); }},
      {{"center", "pair", "[-0.5, 0] (mandelbrot), [0, 0] (julia)", "[re, im], finite numbers or decimal strings (up to 10,000 significant digits)"},
       [](const json& v, TaskSpec& s) { return parse_pair(v, s.center); }},
      {{"scale", "number", "3.0 (mandelbrot), 3.2 (julia)", "> 0, down to 1e-10000 (number or decimal string): width of the view"},
       [](const json& v, TaskSpec& s) {
         std::string e = parse_decimal(v, s.scale);
         const bool negative = v.is_number() ? v.get<double>() < 0 : (v.is_string() && v.get_ref<const std::string&>().rfind('-', 0) == 0);
         if (e.empty() && (negative || !(s.scale.log2_abs > -HUGE_VAL))) e = "must be a finite number > 0";
         return e.empty() ? e : "must be a finite number > 0 (number or decimal string): " + e;
       }},
      {{"max_iter", "int", "500", "1-1,000,000"},
       [](const json& v, TaskSpec& s) { return parse_int(v, 1, kMaxIter, s.max_iter); }},
      {{"julia_c", "pair", "(none)", "[re, im]; required for julia, refused for mandelbrot"},
       [](const json& v, TaskSpec& s) {
         std::array<Decimal, 2> c{};
         std::string e = parse_pair(v, c);
         if (e.empty()) s.julia_c = c;
         return e;
       }},
      {{"output", "enum", "\"image\"", "\"image\" or \"iterations\""},
       [](const json& v, TaskSpec& s) { return parse_enum(v, kOutputs, s.output); }},
      {{"format", "enum", "\"png\"", "\"png\", \"jpg\", \"tiff\" or \"exr\"; iterations needs tiff or exr"},
       [](const json& v, TaskSpec& s) { return parse_enum(v, kFormats, s.format); }},
      {{"palette", "palette", "\"classic\"", "a name from GET /palettes or a list of 2-256 \"#rrggbb\" stops"},
       [](const json& v, TaskSpec& s) { return parse_palette(v, s); }},
      {{"coloring", "enum", "\"smooth\"", "\"smooth\", \"bands\" or \"histogram\""},
       [](const json& v, TaskSpec& s) { return parse_enum(v, kColorings, s.coloring); }},
      {{"supersample", "int", "1", "1-4 samples per axis; 1 for iterations"},
       [](const json& v, TaskSpec& s) { return parse_int(v, 1, kMaxSupersample, s.supersample); }},
      {{"precision", "enum", "\"auto\"", "\"auto\", \"float\", \"double\" or \"deep\""},
       [](const json& v, TaskSpec& s) { return parse_enum(v, kPrecisions, s.precision); }},
  };
  return rows;
}

FieldError invalid(std::string field, std::string what) {
  FieldError e;
  e.code = "invalid_parameter";
  e.message = field.empty() ? what : field + ": " + what;
  e.field = std::move(field);
  e.http_status = 400;
  return e;
}

ParseResult fail(FieldError e) {
  ParseResult r;
  r.error = std::move(e);
  return r;
}

json decimal_json(const Decimal& d) { return d.text.empty() ? json(d.value) : json(d.text); }

}  // namespace

const std::vector<FieldInfo>& task_fields() {
  static const std::vector<FieldInfo> infos = [] {
    std::vector<FieldInfo> v;
    for (const auto& r : table()) v.push_back(r.info);
    return v;
  }();
  return infos;
}

ParseResult parse_task_spec(const json& body) {
  if (!body.is_object()) return fail(invalid("", "the request body must be a JSON object"));

  TaskSpec spec;
  spec.palette_stops = find_palette("classic")->stops;
  std::set<std::string_view> given;
  // Unknown fields first, in the body's order, so a typo is named even if other fields are bad too.
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    const bool known = std::any_of(table().begin(), table().end(), [&](const FieldRow& r) { return r.info.name == key; });
    if (!known) return fail(invalid(key, "unknown field (see docs/api.md for the accepted fields)"));
  }
  for (const auto& row : table()) {
    auto it = body.find(std::string(row.info.name));
    if (it == body.end()) continue;
    // julia_c has no default: null means "not given", so the echoed params
    // (where a Mandelbrot task shows "julia_c": null) parse back unchanged.
    if (it->is_null() && row.info.name == "julia_c") continue;
    if (it->is_null()) return fail(invalid(std::string(row.info.name), "must not be null (omit it for the default)"));
    if (std::string e = row.apply(*it, spec); !e.empty()) return fail(invalid(std::string(row.info.name), e));
    given.insert(row.info.name);
  }

  // Defaults that depend on the fractal.
  const bool julia = spec.fractal == FractalKind::julia;
  if (!given.count("center")) spec.center = {decimal_of(julia ? 0.0 : -0.5), decimal_of(0.0)};
  if (!given.count("scale")) spec.scale = decimal_of(julia ? 3.2 : 3.0);

  // Rules across fields.
  if (static_cast<std::int64_t>(spec.width) * spec.height > kMaxPixels)
    return fail(invalid(given.count("width") ? "width" : "height",
                        "width*height must be at most 67,108,864 pixels (got " + std::to_string(spec.width) + "x" +
                            std::to_string(spec.height) + ")"));
  if (julia && !spec.julia_c) return fail(invalid("julia_c", "is required for fractal \"julia\""));
  if (!julia && spec.julia_c) return fail(invalid("julia_c", "is only allowed for fractal \"julia\""));
  if (spec.output == OutputKind::iterations) {
    if (spec.format != ImageFormat::tiff && spec.format != ImageFormat::exr)
      return fail(invalid("format", "output \"iterations\" needs format \"tiff\" or \"exr\""));
    if (spec.supersample != 1) return fail(invalid("supersample", "must be 1 for output \"iterations\""));
  }
  if (spec.scale.log2_abs < kMinScaleExp10 * 3.321928094887362) {
    FieldError e;
    e.code = "zoom_too_deep";
    e.field = "scale";
    e.message = "scale: views below 1e-10000 are not rendered (deep zoom reaches 1e-10000)";
    e.http_status = 422;
    return fail(std::move(e));
  }
  if (needs_deep(spec) && (spec.precision == Precision::single || spec.precision == Precision::dual)) {
    return fail(invalid("precision", std::string("\"") + std::string(to_string(spec.precision)) +
                                         "\" cannot resolve this view (pixel spacing below 2^-44 * max(1, |center|)); "
                                         "use \"deep\" or \"auto\""));
  }
  ParseResult r;
  r.spec = std::move(spec);
  return r;
}

ParseResult parse_task_spec_text(std::string_view text) {
  json body = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return fail(invalid("", "the request body is not valid JSON"));
  return parse_task_spec(body);
}

json to_json(const TaskSpec& s) {
  json palette;
  if (!s.palette_name.empty()) {
    palette = s.palette_name;
  } else {
    palette = json::array();
    for (const auto& c : s.palette_stops) palette.push_back(to_hex(c));
  }
  json j = {
      {"fractal", to_string(s.fractal)},
      {"width", s.width},
      {"height", s.height},
      {"center", json::array({decimal_json(s.center[0]), decimal_json(s.center[1])})},
      {"scale", decimal_json(s.scale)},
      {"max_iter", s.max_iter},
      {"output", to_string(s.output)},
      {"format", to_string(s.format)},
      {"palette", palette},
      {"coloring", to_string(s.coloring)},
      {"supersample", s.supersample},
      {"precision", to_string(s.precision)},
  };
  j["julia_c"] = s.julia_c ? json::array({decimal_json((*s.julia_c)[0]), decimal_json((*s.julia_c)[1])}) : json(nullptr);
  return j;
}

bool needs_deep(const TaskSpec& s) {
  const double reach = std::max({1.0, std::abs(s.center[0].value), std::abs(s.center[1].value)});
  return s.pixel_spacing_log2() < std::log2(reach) - 44;
}

Scalar precision_used(const TaskSpec& s) {
  switch (s.precision) {
    case Precision::single: return Scalar::f32;
    case Precision::dual: return Scalar::f64;
    case Precision::deep: return Scalar::deep;
    case Precision::automatic: break;
  }
  if (needs_deep(s)) return Scalar::deep;
  // Float is chosen only where measurements (tests/kernels, docs/api.md) show it
  // draws the same counts as double on >= 99.9 % of pixels: the sample spacing
  // must be coarse against float's resolution at the view's magnitude, and the
  // iteration budget low enough that rounding cannot accumulate into a different count.
  const double reach = std::max({1.0, std::abs(s.center[0].value) + s.scale.value,
                                 std::abs(s.center[1].value) + s.scale.value});
  const double spacing = s.scale.value / (static_cast<double>(s.width) * s.supersample);
  const bool coarse = spacing >= std::ldexp(reach, -kFloatSpacingLog2);
  return coarse && s.max_iter <= kFloatMaxIter ? Scalar::f32 : Scalar::f64;
}

std::string_view to_string(FractalKind v) { return enum_name(kFractals, v); }
std::string_view to_string(OutputKind v) { return enum_name(kOutputs, v); }
std::string_view to_string(ImageFormat v) { return enum_name(kFormats, v); }
std::string_view to_string(Coloring v) { return enum_name(kColorings, v); }
std::string_view to_string(Precision v) { return enum_name(kPrecisions, v); }
std::string_view to_string(Scalar v) {
  switch (v) {
    case Scalar::f32: return "float";
    case Scalar::f64: return "double";
    case Scalar::deep: return "deep";
  }
  return "double";
}
std::string_view file_extension(ImageFormat v) { return enum_name(kFormats, v); }
std::string_view content_type(ImageFormat v) {
  switch (v) {
    case ImageFormat::png: return "image/png";
    case ImageFormat::jpg: return "image/jpeg";
    case ImageFormat::tiff: return "image/tiff";
    case ImageFormat::exr: return "image/x-exr";
  }
  return "application/octet-stream";
}

}  // namespace fractal
