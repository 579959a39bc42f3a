#include "storage/tile_queue.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>

namespace fractal::storage {
namespace {

using Clock = std::chrono::system_clock;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

// KEYS: cache entry, lru, flight. ARGV: member, now ms, token, flight ttl ms.
// {1, png} hit (last use moved to now) | {2} leader (flight taken) | {3} follower.
constexpr const char* kLookupScript = R"lua(
local v = redis.call('GET', KEYS[1])
if v then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  return {1, v}
end
if redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[4]) then return {2} end
return {3}
)lua";

// KEYS: cache entry, lru, bytes, flight. ARGV: member, now ms, token, png,
// max bytes, cache key prefix. Stores the entry, evicts least recently used
// entries until the byte count is within max, releases the flight marker if
// the token still holds it.
constexpr const char* kFinishScript = R"lua(
local png = ARGV[4]
local max = tonumber(ARGV[5])
if #png > 0 and #png <= max then
  local old = redis.call('STRLEN', KEYS[1])
  redis.call('SET', KEYS[1], png)
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  local total = redis.call('INCRBY', KEYS[3], #png - old)
  while total > max do
    local victim = redis.call('ZRANGE', KEYS[2], 0, 0)
    if #victim == 0 then
      redis.call('SET', KEYS[3], 0)
      break
    end
    local vkey = ARGV[6] .. victim[1]
    local size = redis.call('STRLEN', vkey)
    redis.call('DEL', vkey)
    redis.call('ZREM', KEYS[2], victim[1])
    total = redis.call('DECRBY', KEYS[3], size)
  end
end
if redis.call('GET', KEYS[4]) == ARGV[3] then redis.call('DEL', KEYS[4]) end
return 1
)lua";

constexpr const char* kReplyScript = R"lua(
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

constexpr const char* kUserBeginScript = R"lua(
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
)lua";

constexpr const char* kUserEndScript = R"lua(
local n = redis.call('DECR', KEYS[1])
if n <= 0 then redis.call('DEL', KEYS[1]) end
return n
)lua";

std::string field(const RedisReply& fields, std::string_view name) {
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2)
    if (fields.elements[i].str == name) return fields.elements[i + 1].str;
  return {};
}

}  // namespace

const std::vector<double>& tile_batch_buckets() {
  static const std::vector<double> b = {1, 2, 4, 8, 16, 32, 64, 128};
  return b;
}
const std::vector<double>& tile_render_buckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

// A pooled connection, returned on scope exit (a broken one reconnects lazily).
class TileQueue::Lease {
 public:
  explicit Lease(TileQueue& q) : q_(q), conn_(q.acquire()), exceptions_(std::uncaught_exceptions()) {}
  ~Lease() {
    // Left mid-way by an exception (e.g. inside MULTI): start over on a fresh connection.
    if (std::uncaught_exceptions() > exceptions_) conn_->disconnect();
    q_.release(std::move(conn_));
  }
  RedisConnection& operator*() { return *conn_; }
  RedisConnection* operator->() { return conn_.get(); }

 private:
  TileQueue& q_;
  std::unique_ptr<RedisConnection> conn_;
  int exceptions_;
};

TileQueue::TileQueue(RedisOptions redis, TileQueueOptions options)
    : redis_(std::move(redis)), options_(std::move(options)) {}

TileQueue::~TileQueue() = default;

std::unique_ptr<RedisConnection> TileQueue::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return std::make_unique<RedisConnection>(redis_);
}

void TileQueue::release(std::unique_ptr<RedisConnection> conn) {
  if (!conn) return;
  std::lock_guard lock(mutex_);
  if (idle_.size() < 64) idle_.push_back(std::move(conn));
}

void TileQueue::ensure_group(RedisConnection& conn) {
  {
    std::lock_guard lock(mutex_);
    if (group_ready_) return;
  }
  try {
    conn.command({"XGROUP", "CREATE", options_.prefix, options_.group, "0", "MKSTREAM"});
  } catch (const RedisError& e) {
    if (std::string_view(e.what()).find("BUSYGROUP") == std::string_view::npos) throw;
  }
  std::lock_guard lock(mutex_);
  group_ready_ = true;
}

TileLookupResult TileQueue::lookup(std::string_view key, std::string_view token, std::chrono::milliseconds flight_ttl) {
  Lease c(*this);
  RedisConnection::CommandOptions o;
  o.idempotent = false;
  const RedisReply r = c->command({"EVAL", kLookupScript, "3", cache_key(key), options_.prefix + ":lru",
                                   options_.prefix + ":flight:" + std::string(key), std::string(key),
                                   std::to_string(unix_ms()), std::string(token),
                                   std::to_string(std::max<long long>(flight_ttl.count(), 1))},
                                  o);
  TileLookupResult out;
  const long long kind = r.elements.empty() ? 3 : r.elements[0].integer;
  if (kind == 1 && r.elements.size() >= 2) {
    out.kind = TileLookup::hit;
    out.png = r.elements[1].str;
  } else {
    out.kind = kind == 2 ? TileLookup::leader : TileLookup::follower;
  }
  return out;
}

void TileQueue::submit(const TileRequest& request) {
  Lease c(*this);
  c->command({"XADD", options_.prefix, "*", "id", request.id, "key", request.key, "spec", request.spec, "deadline",
              std::to_string(request.deadline_ms)});
}

std::optional<std::string> TileQueue::wait_reply(std::string_view request_id, std::chrono::milliseconds timeout) {
  Lease c(*this);
  RedisConnection::CommandOptions o;
  // The socket outwaits the server-side block (hiredis drops a context on a read timeout).
  o.read_timeout = timeout + redis_.command_timeout;
  o.idempotent = false;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", std::max<double>(0.001, timeout.count() / 1000.0));
  const RedisReply r = c->command({"BLPOP", options_.prefix + ":reply:" + std::string(request_id), seconds}, o);
  if (!r.is_array() || r.elements.size() < 2) return std::nullopt;
  return r.elements[1].str;
}

void TileQueue::finish_flight(std::string_view key, std::string_view token, std::string_view png,
                              std::int64_t max_bytes) {
  Lease c(*this);
  RedisConnection::CommandOptions o;
  o.idempotent = true;  // storing the same bytes twice is harmless
  c->command({"EVAL", kFinishScript, "4", cache_key(key), options_.prefix + ":lru", options_.prefix + ":bytes",
              options_.prefix + ":flight:" + std::string(key), std::string(key), std::to_string(unix_ms()),
              std::string(token), std::string(png), std::to_string(std::max<std::int64_t>(max_bytes, 0)),
              options_.prefix + ":cache:"},
             o);
}

std::int64_t TileQueue::user_begin(std::string_view user) {
  Lease c(*this);
  return c->command({"EVAL", kUserBeginScript, "1", options_.prefix + ":user:" + std::string(user), "60000"}).integer;
}

void TileQueue::user_end(std::string_view user) {
  Lease c(*this);
  c->command({"EVAL", kUserEndScript, "1", options_.prefix + ":user:" + std::string(user)});
}

TileCacheStats TileQueue::stats() {
  Lease c(*this);
  TileCacheStats s;
  const RedisReply b = c->command({"GET", options_.prefix + ":bytes"});
  if (!b.is_nil()) s.bytes = std::strtoll(b.str.c_str(), nullptr, 10);
  s.entries = c->command({"ZCARD", options_.prefix + ":lru"}).integer;
  s.queue_depth = c->command({"XLEN", options_.prefix}).integer;
  return s;
}

TileWorkerStats TileQueue::worker_stats() {
  Lease c(*this);
  std::map<std::string, std::string> h;
  const RedisReply r = c->command({"HGETALL", options_.prefix + ":metrics"});
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) h[r.elements[i].str] = r.elements[i + 1].str;
  TileWorkerStats s;
  s.rendered = static_cast<std::int64_t>(hash_number(h, "rendered"));
  s.dropped = static_cast<std::int64_t>(hash_number(h, "dropped"));
  s.failed = static_cast<std::int64_t>(hash_number(h, "failed"));
  s.batches = static_cast<std::int64_t>(hash_number(h, "batch:count"));
  s.batch_size = read_histogram(h, "batch", tile_batch_buckets());
  s.render_seconds = read_histogram(h, "render", tile_render_buckets());
  return s;
}

std::vector<TileRequest> TileQueue::take(std::string_view consumer, std::size_t count,
                                         std::chrono::milliseconds block) {
  Lease c(*this);
  ensure_group(*c);
  std::vector<std::string> argv{"XREADGROUP", "GROUP", options_.group, std::string(consumer),
                                "COUNT", std::to_string(std::max<std::size_t>(count, 1))};
  if (block.count() > 0) argv.insert(argv.end(), {"BLOCK", std::to_string(block.count())});  // none: do not wait
  argv.insert(argv.end(), {"STREAMS", options_.prefix, ">"});
  RedisConnection::CommandOptions o;
  o.read_timeout = block + redis_.command_timeout;
  RedisReply reply;
  try {
    reply = c->command(argv, o);
  } catch (const RedisError& e) {
    if (std::string_view(e.what()).find("NOGROUP") == std::string_view::npos) throw;
    {
      std::lock_guard lock(mutex_);
      group_ready_ = false;
    }
    ensure_group(*c);
    return {};
  }
  std::vector<TileRequest> out;
  std::vector<std::string> ids;
  if (reply.is_array() && !reply.elements.empty()) {
    const RedisReply& stream = reply.elements[0];
    if (stream.is_array() && stream.elements.size() >= 2) {
      for (const RedisReply& e : stream.elements[1].elements) {
        if (!e.is_array() || e.elements.size() < 2) continue;
        ids.push_back(e.elements[0].str);
        if (!e.elements[1].is_array()) continue;
        const RedisReply& f = e.elements[1];
        TileRequest t;
        t.id = field(f, "id");
        t.key = field(f, "key");
        t.spec = field(f, "spec");
        t.deadline_ms = std::strtoll(field(f, "deadline").c_str(), nullptr, 10);
        out.push_back(std::move(t));
      }
    }
  }
  if (!ids.empty()) {
    std::vector<std::string> ack{"XACK", options_.prefix, options_.group};
    std::vector<std::string> del{"XDEL", options_.prefix};
    ack.insert(ack.end(), ids.begin(), ids.end());
    del.insert(del.end(), ids.begin(), ids.end());
    c->command(ack);
    c->command(del);
  }
  return out;
}

void TileQueue::reply(std::string_view request_id, std::string_view payload, std::chrono::milliseconds ttl) {
  Lease c(*this);
  RedisConnection::CommandOptions o;
  o.idempotent = false;
  c->command({"EVAL", kReplyScript, "1", options_.prefix + ":reply:" + std::string(request_id), std::string(payload),
              std::to_string(std::max<long long>(ttl.count(), 1))},
             o);
}

void TileQueue::record_batch(std::size_t tiles, double seconds, std::int64_t dropped, std::int64_t failed) {
  Lease c(*this);
  const std::string h = options_.prefix + ":metrics";
  const std::int64_t rendered = static_cast<std::int64_t>(tiles) - failed;
  c->command({"MULTI"});
  c->command({"HINCRBY", h, "rendered", std::to_string(std::max<std::int64_t>(rendered, 0))});
  c->command({"HINCRBY", h, "dropped", std::to_string(dropped)});
  c->command({"HINCRBY", h, "failed", std::to_string(failed)});
  if (tiles > 0) {
    c->command({"HINCRBY", h, histogram_bucket_field("batch", tile_batch_buckets(), static_cast<double>(tiles)), "1"});
    c->command({"HINCRBY", h, "batch:count", "1"});
    c->command({"HINCRBYFLOAT", h, "batch:sum", std::to_string(tiles)});
    c->command({"HINCRBY", h, histogram_bucket_field("render", tile_render_buckets(), seconds), "1"});
    c->command({"HINCRBY", h, "render:count", "1"});
    c->command({"HINCRBYFLOAT", h, "render:sum", std::to_string(seconds)});
  }
  c->command({"EXEC"});
}

}  // namespace fractal::storage
