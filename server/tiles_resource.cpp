#include "server/tiles_resource.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>
#include <thread>

#include "auth/jwt.h"
#include "kernels/tile_view.h"
#include "server/logging.h"

namespace fractal::server {
namespace {

using Clock = std::chrono::steady_clock;
using Pistache::Http::Method;

// Bumped whenever the pixels of an unchanged request change (renderer or
// encoder change): old cache entries and ETags then simply stop matching.
constexpr std::string_view kCacheVersion = "tile-v1";
constexpr std::string_view kTileQueryFields[] = {"fractal", "julia_c", "max_iter", "palette", "coloring", "precision"};

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Pistache 0.0.5 hands query values over as sent: decode %XX (and nothing
// else; '+' is not a space in our values).
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

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

std::string random_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   static_cast<std::uint64_t>(Clock::now().time_since_epoch().count())};
  return to_hex(std::string_view(reinterpret_cast<const char*>(std::array<std::uint64_t, 2>{rng(), rng()}.data()), 16));
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
  std::vector<std::string> names;
  for (const auto& [k, v] : query) names.push_back(k);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (std::find(std::begin(kTileQueryFields), std::end(kTileQueryFields), n) == std::end(kTileQueryFields))
      throw invalid_parameter(n, n + ": unknown query parameter (tiles take fractal, julia_c, max_iter, palette, "
                                     "coloring, precision)");
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

void TilesResource::setup_routes(Router& router) {
  router.add(Method::Get, "/tiles/:z/:x/:y.png", [this](RequestContext& c) { return tile(c); });
  // GET /stats (TasksResource) gets the tile figures added to its answer.
  router.wrap(Method::Get, "/stats", [this](RequestContext& ctx, const RouteHandler& inner) {
    Reply r = inner(ctx);
    if (r.status != 200 || r.content_type != "application/json") return r;
    try {
      nlohmann::json body = nlohmann::json::parse(r.body);
      const storage::TileCacheStats c = s_.tile_queue.stats();
      const storage::TileWorkerStats w = s_.tile_queue.worker_stats();
      body["tiles"] = {
          {"cache_bytes", c.bytes},
          {"cache_entries", c.entries},
          {"cache_max_bytes", s_.options.tile_cache_bytes},
          {"queue_depth", c.queue_depth},
          {"rendered", w.rendered},
          {"dropped", w.dropped},
          {"batches", w.batches},
          {"mean_batch_size", w.batch_size.count > 0 ? w.batch_size.sum / w.batch_size.count : 0.0},
          {"server_hits", s_.tile_stats.count(TileOutcome::hit)},
          {"server_misses", s_.tile_stats.count(TileOutcome::miss)},
          {"server_busy", s_.tile_stats.count(TileOutcome::busy)},
      };
      return json_reply(200, body, r.headers);
    } catch (const std::exception& e) {
      spdlog::warn("event=tile_stats_failed error=\"{}\"", log_value(e.what()));
      return r;  // the task figures still answer
    }
  });
}

Reply TilesResource::tile(RequestContext& ctx) {
  const auto started = Clock::now();
  const auth::Claims user = s_.bearer.require(ctx);
  std::vector<std::pair<std::string, std::string>> query;
  for (auto it = ctx.http.query().parameters_begin(); it != ctx.http.query().parameters_end(); ++it)
    query.emplace_back(it->first, it->second);
  auto q = std::make_shared<const TileQuery>(
      parse_tile_query(ctx.path_param("z"), ctx.path_param("x"), ctx.path_param("y.png"), query));

  HeaderList headers = {{"ETag", q->etag}, {"Cache-Control", "private, max-age=86400"}};
  if (const auto inm = request_header(ctx.http, "If-None-Match"); inm && etag_matches(*inm, q->etag)) {
    s_.tile_stats.observe(TileOutcome::not_modified, std::chrono::duration<double>(Clock::now() - started).count());
    return empty_reply(304, std::move(headers));
  }

  const std::string request_id = random_request_id();
  const auto flight_ttl = s_.options.tile_timeout + std::chrono::milliseconds(1000);
  TileOutcome outcome = TileOutcome::failed;
  try {
    storage::TileLookupResult look = s_.tile_queue.lookup(q->key, request_id, flight_ttl);
    if (look.kind == storage::TileLookup::hit) {
      outcome = TileOutcome::hit;
      s_.tile_stats.observe(outcome, std::chrono::duration<double>(Clock::now() - started).count());
      return png_reply(std::move(look.png), true, std::move(headers));
    }
    // A miss waits for a render: counted against the user's in-flight limit.
    const std::int64_t waiting = s_.tile_queue.user_begin(user.sub);
    if (waiting > s_.options.tile_max_in_flight) {
      end_user(user.sub);
      if (look.kind == storage::TileLookup::leader) s_.tile_queue.finish_flight(q->key, request_id, {}, 0);
      outcome = TileOutcome::too_many;
      throw ApiError(429, "too_many_requests",
                     "more than " + std::to_string(s_.options.tile_max_in_flight) +
                         " tile renders in flight for this user; retry shortly",
                     {}, {{"Retry-After", "1"}});
    }
    // The wait runs on a waiter thread (Reply::deferred): HTTP threads never block.
    Reply r;
    r.deferred = [this, q, user = user.sub, headers, request_id, started, leader = look.kind == storage::TileLookup::leader]() {
      TileOutcome outcome = TileOutcome::failed;
      try {
        Reply answer = wait_for_render(*q, request_id, leader, started + s_.options.tile_timeout, headers, outcome);
        finish_wait(user, outcome, started);
        return answer;
      } catch (...) {
        finish_wait(user, outcome, started);
        throw;
      }
    };
    return r;
  } catch (...) {
    s_.tile_stats.observe(outcome, std::chrono::duration<double>(Clock::now() - started).count());
    throw;
  }
}

void TilesResource::end_user(const std::string& user) noexcept {
  try {
    s_.tile_queue.user_end(user);
  } catch (const std::exception& e) {
    spdlog::warn("event=tile_user_release_failed user={} error=\"{}\"", user, log_value(e.what()));
  }
}

void TilesResource::finish_wait(const std::string& user, TileOutcome outcome, Clock::time_point started) noexcept {
  end_user(user);
  s_.tile_stats.observe(outcome, std::chrono::duration<double>(Clock::now() - started).count());
}

Reply TilesResource::png_reply(std::string png, bool hit, HeaderList headers) {
  Reply r;
  r.status = 200;
  r.body = std::move(png);
  r.content_type = "image/png";
  r.headers = std::move(headers);
  r.headers.emplace_back("X-Cache", hit ? "hit" : "miss");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

Reply TilesResource::wait_for_render(const TileQuery& q, const std::string& request_id, bool leader,
                                     Clock::time_point deadline, const HeaderList& headers, TileOutcome& outcome) {
  const auto flight_ttl = s_.options.tile_timeout + std::chrono::milliseconds(1000);
  auto busy = [&]() {
    outcome = TileOutcome::busy;
    return ApiError(503, "busy",
                    "no worker rendered this tile within " +
                        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(s_.options.tile_timeout).count()) +
                        " s; retry shortly",
                    {}, {{"Retry-After", "2"}});
  };
  storage::TileLookupResult look;
  look.kind = leader ? storage::TileLookup::leader : storage::TileLookup::follower;
  auto poll = std::chrono::milliseconds(5);
  for (;;) {
    if (look.kind == storage::TileLookup::hit) {
      outcome = TileOutcome::miss;  // it waited for a render (another request's)
      return png_reply(std::move(look.png), false, headers);
    }
    if (look.kind == storage::TileLookup::leader) {
      if (Clock::now() >= deadline) {
        s_.tile_queue.finish_flight(q.key, request_id, {}, 0);
        throw busy();
      }
      storage::TileRequest t;
      t.id = request_id;
      t.key = q.key;
      t.spec = q.params.dump();
      t.deadline_ms = unix_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      std::optional<std::string> answer;
      try {
        s_.tile_queue.submit(t);
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        answer = s_.tile_queue.wait_reply(request_id, std::max(left, std::chrono::milliseconds(1)));
      } catch (...) {
        try {
          s_.tile_queue.finish_flight(q.key, request_id, {}, 0);
        } catch (...) {
        }
        throw;
      }
      if (answer && !answer->empty() && (*answer)[0] == 'P') {
        std::string png = answer->substr(1);
        // Cached, then the marker released: followers find it in the cache.
        s_.tile_queue.finish_flight(q.key, request_id, png, s_.options.tile_cache_bytes);
        outcome = TileOutcome::miss;
        return png_reply(std::move(png), false, headers);
      }
      s_.tile_queue.finish_flight(q.key, request_id, {}, 0);
      if (answer) {
        spdlog::error("event=tile_render_failed key={} error=\"{}\"", q.key, log_value(answer->substr(1)));
        throw ApiError(500, "render_failed", "the tile could not be rendered");
      }
      spdlog::warn("event=tile_busy key={} z={} x={} y={}", q.key, q.z, q.x_text, q.y_text);
      throw busy();
    }
    // Follower: another request renders this tile; its result lands in the cache.
    if (Clock::now() + poll >= deadline) throw busy();
    std::this_thread::sleep_for(poll);
    poll = std::min(poll * 3 / 2 + std::chrono::milliseconds(1), std::chrono::milliseconds(50));
    look = s_.tile_queue.lookup(q.key, request_id, flight_ttl);
  }
}

}  // namespace fractal::server
