#include "server/tiles_resource.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>
#include <thread>

#include "auth/jwt.h"
#include "kernels/tile_view.h"
#include "runtime/logging.h"

namespace fractal::server {
namespace {

using Clock = std::chrono::steady_clock;
using Pistache::Http::Method;

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

}  // namespace

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
      spdlog::warn("event=tile_stats_failed error={}", runtime::log_value(e.what()));
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
    r.deferred = [this, q, user = user.sub, headers, request_id, started,
                  leader = look.kind == storage::TileLookup::leader](const std::function<bool()>& client_gone) {
      TileOutcome outcome = TileOutcome::failed;
      bool counted = true;  // the user's in-flight count is held
      const auto left = [&] {
        if (!counted) return;
        counted = false;
        end_user(user);
      };
      const auto finish = [&] {
        left();
        s_.tile_stats.observe(outcome, std::chrono::duration<double>(Clock::now() - started).count());
      };
      try {
        Reply answer = wait_for_render(*q, request_id, leader, started + s_.options.tile_timeout, headers, outcome,
                                       client_gone, left);
        finish();
        return answer;
      } catch (...) {
        finish();
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
    spdlog::warn("event=tile_user_release_failed user={} error={}", user, runtime::log_value(e.what()));
  }
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
                                     Clock::time_point deadline, const HeaderList& headers, TileOutcome& outcome,
                                     const std::function<bool()>& client_gone, const std::function<void()>& left) {
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
        // In slices, to notice a client that left; the render is still
        // awaited then, so its tile lands in the cache for the next visit.
        constexpr auto kSlice = std::chrono::milliseconds(200);
        for (;;) {
          const auto rest = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
          answer = s_.tile_queue.wait_reply(request_id, std::clamp(rest, std::chrono::milliseconds(1), kSlice));
          if (answer || rest <= kSlice) break;
          if (client_gone()) left();
        }
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
        spdlog::error("event=tile_render_failed key={} error={}", q.key, runtime::log_value(answer->substr(1)));
        throw ApiError(500, "render_failed", "the tile could not be rendered");
      }
      spdlog::warn("event=tile_busy key={} z={} x={} y={}", q.key, q.z, q.x_text, q.y_text);
      throw busy();
    }
    // Follower: another request renders this tile; its result lands in the cache.
    if (Clock::now() + poll >= deadline) throw busy();
    if (client_gone()) {
      left();
      throw busy();  // written to nobody
    }
    std::this_thread::sleep_for(poll);
    poll = std::min(poll * 3 / 2 + std::chrono::milliseconds(1), std::chrono::milliseconds(50));
    look = s_.tile_queue.lookup(q.key, request_id, flight_ttl);
  }
}

}  // namespace fractal::server
