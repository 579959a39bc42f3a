#include "server/tile_query.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include "auth/jwt.h"
#include "kernels/tile_view.h"
#include "runtime/percent_decode.h"
#include "server/api_error.h"
#include "server/param_name.h"

namespace fractal::server {
namespace {

// Bumped whenever the pixels of an unchanged request change (renderer or
// encoder change): old cache entries and ETags then simply stop matching.
constexpr std::string_view kCacheVersion = "tile-v1";

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Pistache 0.0.5 hands query values over as sent: decode %XX (and nothing
// else; '+' is not a space in our values); a malformed '%' stays as it is.
std::string percent_decode(std::string_view s) { return *runtime::percent_decode(s, /*lenient=*/true); }

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (!all_digits(s)) return std::nullopt;
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> parts;
  while (true) {
    const std::size_t comma = s.find(',');
    parts.emplace_back(trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return parts;
}

// The query value as the JSON the TaskSpec field table expects; anything that
// is not of the right shape is passed on as a string so the table's own
// message names the field.
nlohmann::json query_value(std::string_view name, const std::string& value) {
  if (name == "max_iter") {
    std::string_view digits = value;
    if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
    if (all_digits(digits) && digits.size() <= 18) return std::stoll(value);
    return value;
  }
  if (name == "julia_c") {
    auto parts = split_commas(value);
    if (parts.size() == 2) return nlohmann::json::array({parts[0], parts[1]});
    return value;
  }
  if (name == "palette") {
    if (value.find(',') != std::string::npos || (!value.empty() && value.front() == '#')) {
      nlohmann::json stops = nlohmann::json::array();
      for (auto& p : split_commas(value)) stops.push_back(std::move(p));
      return stops;
    }
    return value;
  }
  return value;
}

}  // namespace

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

TileView tile_view(FractalKind fractal, int z, std::uint64_t x, std::uint64_t y) {
  const double origin_re = fractal == FractalKind::julia ? 0.0 : -0.5;
  const double origin_im = 0.0;
  TileView v;
  v.scale = std::ldexp(4.0, -z);  // exact
  // (x + 0.5) * 4 / 2^z is exact in double (x < 2^52); origin.re - 2 and
  // origin.im + 2 are exact: each coordinate is rounded once, at the sum.
  const double off_x = std::ldexp(static_cast<double>(x) + 0.5, 2 - z);
  const double off_y = std::ldexp(static_cast<double>(y) + 0.5, 2 - z);
  v.center_re = (origin_re - 2.0) + off_x;
  v.center_im = (origin_im + 2.0) - off_y;
  return v;
}

bool etag_matches(std::string_view header, std::string_view etag) {
  for (const auto& part : split_commas(header)) {
    std::string_view candidate = part;
    if (candidate == "*") return true;
    if (candidate.substr(0, 2) == "W/") candidate.remove_prefix(2);  // weak comparison (RFC 9110 13.1.2)
    if (candidate == etag) return true;
  }
  return false;
}

TileQuery parse_tile_query(std::string_view z_text, std::string_view x_text, std::string_view y_png,
                           const std::vector<std::pair<std::string, std::string>>& query) {
  // Unknown query parameters first, in name order (deterministic message).
  // "?&" and a trailing "?" leave parameters with neither name nor value: ignored.
  // A value without a name ("?=x") is refused like an unknown parameter, named "query".
  std::vector<std::string> names;
  for (const auto& [k, v] : query) {
    if (k.empty() && !v.empty()) throw invalid_parameter("query", "query: a parameter without a name (\"=" + v.substr(0, 40) + "\")");
    if (!k.empty()) names.push_back(k);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (std::find(std::begin(kTileQueryFields), std::end(kTileQueryFields), n) == std::end(kTileQueryFields)) {
      const std::string shown = printable_name(n);
      throw invalid_parameter(shown, shown + ": unknown query parameter (tiles take fractal, julia_c, max_iter, "
                                             "palette, coloring, precision)");
    }
  }

  TileQuery q;
  const auto z = parse_u64(z_text);
  if (!z || *z > 1'000'000'000) throw invalid_parameter("z", "z: must be an integer >= 0");
  q.z = static_cast<int>(*z);
  constexpr std::string_view kSuffix = ".png";
  if (y_png.size() <= kSuffix.size() || y_png.substr(y_png.size() - kSuffix.size()) != kSuffix)
    throw invalid_parameter("y", "y: the tile name must be <y>.png");
  const std::string_view y_text = y_png.substr(0, y_png.size() - kSuffix.size());
  const std::string range = "from 0 to 2^z - 1 (" +
                            (q.z < 64 ? std::to_string((std::uint64_t{1} << q.z) - 1) : std::string("2^") + std::to_string(q.z) + " - 1") +
                            " at z = " + std::to_string(q.z) + ")";
  if (!all_digits(x_text)) throw invalid_parameter("x", "x: must be an integer " + range);
  if (!all_digits(y_text)) throw invalid_parameter("y", "y: must be an integer " + range);

  // The POST /add body of the tile's view; the one field table validates it.
  nlohmann::json body = nlohmann::json::object();
  std::string fractal_name = "mandelbrot";
  for (const auto& [k, raw] : query) {
    if (k.empty()) continue;
    const std::string value = percent_decode(raw);
    if (k == "fractal") fractal_name = value;
    body[k] = query_value(k, value);
  }
  const FractalKind kind = fractal_name == "julia" ? FractalKind::julia : FractalKind::mandelbrot;
  const TileViewJson view = tile_view_json(kind, q.z, x_text, y_text);
  if (view.error == TileIndexError::x) throw invalid_parameter("x", "x: must be an integer " + range);
  if (view.error == TileIndexError::y) throw invalid_parameter("y", "y: must be an integer " + range);
  if (const auto x = parse_u64(x_text)) q.x = *x;  // for logs; deep indices may not fit
  if (const auto y = parse_u64(y_text)) q.y = *y;
  auto strip_zeros = [](std::string_view d) {
    while (d.size() > 1 && d.front() == '0') d.remove_prefix(1);
    return std::string(d);
  };
  q.x_text = strip_zeros(x_text);
  q.y_text = strip_zeros(y_text);
  body["width"] = kTileSize;
  body["height"] = kTileSize;
  body["scale"] = view.scale;
  body["center"] = view.center;

  const ParseResult parsed = parse_task_spec(body);
  if (!parsed.ok()) {
    const FieldError& e = *parsed.error;
    if (e.code == "zoom_too_deep")
      throw ApiError(e.http_status, e.code,
                     "z: level " + std::to_string(q.z) + " is deeper than the renderer reaches (scale 4/2^z below 1e" +
                         std::to_string(kMinScaleExp10) + ")",
                     "z");
    throw ApiError(e.http_status, e.code, e.message, e.field);
  }
  q.spec = *parsed.spec;
  if (q.spec.coloring == Coloring::histogram)
    throw invalid_parameter("coloring", "coloring: must be \"smooth\" or \"bands\" for tiles (\"histogram\" depends "
                                        "on the whole image, so neighbouring tiles would not match)");

  // Canonical form: numbers as the doubles they resolve to, precision as what
  // runs (auto -> float/double by the same rule), so equal requests spelled
  // differently share one cache entry.
  // (Deep views read decimal text at full precision: there it is kept as given.)
  if (q.spec.julia_c && !needs_deep(q.spec))
    for (auto& c : *q.spec.julia_c) c.text.clear();
  switch (precision_used(q.spec)) {
    case Scalar::f32: q.spec.precision = Precision::single; break;
    case Scalar::f64: q.spec.precision = Precision::dual; break;
    case Scalar::deep: q.spec.precision = Precision::deep; break;
  }
  q.params = to_json(q.spec);
  const std::string canonical =
      std::string(kCacheVersion) + "|" + q.params.dump() + "|" + std::to_string(q.z) + "/" + q.x_text + "/" + q.y_text;
  q.key = to_hex(auth::detail::hmac_sha256("fractal-tile-cache-key", canonical));
  q.etag = "\"" + q.key.substr(0, 40) + "\"";
  return q;
}

}  // namespace fractal::server
