#include <algorithm>

#include "storage/redis.h"
#include "storage/uuid.h"

namespace fractal::storage {
namespace {

// Scripts get every key in KEYS and every value in ARGV: no string building.

// For each entry ARGV[2..]: XACK, and XDEL only if this call acknowledged it.
// Returns 1 or 0 per entry, in order.
constexpr const char* kAckScript = R"lua(
local acked = {}
for i = 2, #ARGV do
  local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  if n == 1 then redis.call('XDEL', KEYS[1], ARGV[i]) end
  acked[#acked + 1] = n
end
return acked
)lua";

// XADD KEYS[1] * id ARGV[i] for every ARGV, in order; returns the entry ids.
constexpr const char* kEnqueueManyScript = R"lua(
local ids = {}
for i = 1, #ARGV do
  ids[i] = redis.call('XADD', KEYS[1], '*', 'id', ARGV[i])
end
return ids
)lua";

// Resets the idle time of the entries ARGV[3..] that consumer ARGV[2] still owns.
constexpr const char* kTouchScript = R"lua(
local held = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    held[#held + 1] = ARGV[i]
  end
end
return held
)lua";

// Delivery counts of the entries ARGV[2..] (0 when not pending).
constexpr const char* kDeliveriesScript = R"lua(
local out = {}
for i = 2, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 then out[#out + 1] = p[1][4] else out[#out + 1] = 0 end
end
return out
)lua";

// KEYS: stream, dead stream. ARGV: group, entry id, task id, reason, deliveries, max len.
constexpr const char* kDeadLetterScript = R"lua(
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*',
                      'id', ARGV[3], 'entry', ARGV[2], 'reason', ARGV[4], 'deliveries', ARGV[5])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return id
)lua";

bool is_nogroup(const RedisError& e) { return std::string_view(e.what()).find("NOGROUP") != std::string_view::npos; }

std::string field(const RedisReply& fields, std::string_view name) {
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    if (fields.elements[i].str == name) return fields.elements[i + 1].str;
  }
  return {};
}

// [[id, [field, value, ...]], ...]; entries whose data was deleted come back
// as [id, nil] and are reported through `deleted`.
std::vector<StreamEntry> parse_entries(const RedisReply& list, std::vector<std::string>* deleted) {
  std::vector<StreamEntry> out;
  for (const RedisReply& e : list.elements) {
    if (!e.is_array() || e.elements.size() < 2) continue;
    if (!e.elements[1].is_array()) {
      if (deleted) deleted->push_back(e.elements[0].str);
      continue;
    }
    out.push_back(StreamEntry{e.elements[0].str, field(e.elements[1], "id"), 1});
  }
  return out;
}

// XREADGROUP reply: [[stream, entries]] or nil on timeout.
std::vector<StreamEntry> parse_read(const RedisReply& reply, std::vector<std::string>* deleted) {
  if (!reply.is_array() || reply.elements.empty()) return {};
  const RedisReply& stream = reply.elements[0];
  if (!stream.is_array() || stream.elements.size() < 2) return {};
  return parse_entries(stream.elements[1], deleted);
}

}  // namespace

TaskQueue::TaskQueue(RedisOptions redis, QueueOptions queue)
    : queue_(std::move(queue)), conn_(redis), blocking_(redis) {}

template <class F>
auto TaskQueue::with_group(RedisConnection& conn, F&& f) {
  // Caller holds the lock for `conn`. group_ready_ is a hint: NOGROUP from
  // Redis (it lost its data) re-creates the group and the command runs again.
  if (!group_ready_) ensure_group();
  try {
    return f(conn);
  } catch (const RedisError& e) {
    if (!is_nogroup(e)) throw;
    group_ready_ = false;
    ensure_group();
    return f(conn);
  }
}

void TaskQueue::ensure_group() {
  // A connection of its own: callers may hold either lock (mutex_ or
  // blocking_mutex_), and this runs once per process or after data loss.
  RedisConnection once(conn_.options());
  try {
    once.command({"XGROUP", "CREATE", queue_.stream, queue_.group, "0", "MKSTREAM"});
  } catch (const RedisError& e) {
    if (std::string_view(e.what()).find("BUSYGROUP") == std::string_view::npos) throw;
  }
  group_ready_ = true;
}

std::string TaskQueue::enqueue(std::string_view task_id) {
  if (!is_uuid(task_id)) throw std::invalid_argument("enqueue: not a task id: " + std::string(task_id));
  std::lock_guard lock(mutex_);
  if (!group_ready_) ensure_group();  // before the first XADD: see ensure_group()
  return conn_.command({"XADD", queue_.stream, "*", "id", std::string(task_id)}).str;
}

std::vector<std::string> TaskQueue::enqueue_many(const std::vector<std::string>& task_ids) {
  if (task_ids.empty()) return {};
  std::vector<std::string> argv{"EVAL", kEnqueueManyScript, "1", queue_.stream};
  argv.reserve(task_ids.size() + 4);
  for (const auto& id : task_ids) {
    if (!is_uuid(id)) throw std::invalid_argument("enqueue_many: not a task id: " + id);
    argv.push_back(id);
  }
  std::lock_guard lock(mutex_);
  if (!group_ready_) ensure_group();  // before the first XADD: see ensure_group()
  const RedisReply reply = conn_.command(argv);
  std::vector<std::string> entry_ids;
  entry_ids.reserve(reply.elements.size());
  for (const auto& e : reply.elements) entry_ids.push_back(e.str);
  return entry_ids;
}

std::vector<StreamEntry> TaskQueue::read(std::string_view consumer, std::size_t count, std::chrono::milliseconds block) {
  std::lock_guard lock(blocking_mutex_);
  const std::vector<std::string> argv{"XREADGROUP", "GROUP", queue_.group, std::string(consumer),
                                      "COUNT", std::to_string(std::max<std::size_t>(count, 1)),
                                      "BLOCK", std::to_string(std::max<long long>(block.count(), 0)),
                                      "STREAMS", queue_.stream, ">"};
  // The socket must outwait the server-side block: block time + the normal
  // timeout, or no timeout for BLOCK 0 (forever).
  RedisConnection::CommandOptions options;
  options.read_timeout = block.count() > 0 ? block + conn_.options().command_timeout : std::chrono::milliseconds(0);
  const RedisReply reply = with_group(blocking_, [&](RedisConnection& c) { return c.command(argv, options); });
  return parse_read(reply, nullptr);
}

bool TaskQueue::ack(std::string_view entry_id) { return ack_many({std::string(entry_id)}).front(); }

std::vector<bool> TaskQueue::ack_many(const std::vector<std::string>& entry_ids) {
  std::vector<bool> acked(entry_ids.size(), false);
  if (entry_ids.empty()) return acked;
  std::vector<std::string> argv{"EVAL", kAckScript, "1", queue_.stream, queue_.group};
  argv.insert(argv.end(), entry_ids.begin(), entry_ids.end());
  const auto idempotent = RedisConnection::CommandOptions::resendable();
  std::lock_guard lock(mutex_);
  const RedisReply reply = conn_.command(argv, idempotent);
  for (std::size_t i = 0; i < entry_ids.size() && i < reply.elements.size(); ++i)
    acked[i] = reply.elements[i].integer == 1;
  return acked;
}

std::vector<StreamEntry> TaskQueue::pending_for(std::string_view consumer, std::size_t count) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> deleted;
  const RedisReply reply = with_group(conn_, [&](RedisConnection& c) {
    return c.command({"XREADGROUP", "GROUP", queue_.group, std::string(consumer), "COUNT",
                      std::to_string(std::max<std::size_t>(count, 1)), "STREAMS", queue_.stream, "0"});
  });
  std::vector<StreamEntry> entries = parse_read(reply, &deleted);
  // Pending entries whose data is gone cannot be rendered: drop them.
  for (const auto& id : deleted) conn_.command({"XACK", queue_.stream, queue_.group, id});
  if (entries.empty()) return entries;
  std::vector<std::string> argv{"EVAL", kDeliveriesScript, "1", queue_.stream, queue_.group};
  for (const auto& e : entries) argv.push_back(e.id);
  const auto idempotent = RedisConnection::CommandOptions::resendable();
  const RedisReply counts = conn_.command(argv, idempotent);
  for (std::size_t i = 0; i < entries.size() && i < counts.elements.size(); ++i)
    entries[i].deliveries = counts.elements[i].integer;
  return entries;
}

std::vector<StreamEntry> TaskQueue::autoclaim(std::string_view consumer, std::chrono::milliseconds min_idle,
                                              std::size_t count) {
  std::lock_guard lock(mutex_);
  std::vector<StreamEntry> claimed;
  std::string cursor = "0-0";
  // Each XAUTOCLAIM scans at most 10 * COUNT pending entries; follow the cursor
  // until `count` are claimed or the whole PEL was scanned (cursor back at 0-0).
  for (int round = 0; round < 1000 && claimed.size() < count; ++round) {
    const RedisReply reply = with_group(conn_, [&](RedisConnection& c) {
      return c.command({"XAUTOCLAIM", queue_.stream, queue_.group, std::string(consumer),
                        std::to_string(std::max<long long>(min_idle.count(), 0)), cursor, "COUNT",
                        std::to_string(count - claimed.size())});
    });
    if (!reply.is_array() || reply.elements.size() < 2) break;
    std::vector<std::string> deleted;  // Redis 7 removes those from the PEL itself
    for (auto& e : parse_entries(reply.elements[1], &deleted)) claimed.push_back(std::move(e));
    cursor = reply.elements[0].str;
    if (cursor == "0-0") break;
  }
  if (claimed.empty()) return claimed;
  std::vector<std::string> argv{"EVAL", kDeliveriesScript, "1", queue_.stream, queue_.group};
  for (const auto& e : claimed) argv.push_back(e.id);
  const auto idempotent = RedisConnection::CommandOptions::resendable();
  const RedisReply counts = conn_.command(argv, idempotent);
  for (std::size_t i = 0; i < claimed.size() && i < counts.elements.size(); ++i)
    claimed[i].deliveries = counts.elements[i].integer;
  return claimed;
}

std::vector<std::string> TaskQueue::touch(std::string_view consumer, const std::vector<std::string>& entry_ids) {
  if (entry_ids.empty()) return {};
  std::lock_guard lock(mutex_);
  std::vector<std::string> argv{"EVAL", kTouchScript, "1", queue_.stream, queue_.group, std::string(consumer)};
  argv.insert(argv.end(), entry_ids.begin(), entry_ids.end());
  const auto idempotent = RedisConnection::CommandOptions::resendable();
  const RedisReply reply = with_group(conn_, [&](RedisConnection& c) { return c.command(argv, idempotent); });
  std::vector<std::string> held;
  for (const auto& e : reply.elements) held.push_back(e.str);
  return held;
}

void TaskQueue::dead_letter(const StreamEntry& entry, std::string_view reason) {
  std::lock_guard lock(mutex_);
  conn_.command({"EVAL", kDeadLetterScript, "2", queue_.stream, queue_.dead_stream, queue_.group, entry.id,
                 entry.task_id, std::string(reason), std::to_string(entry.deliveries),
                 std::to_string(queue_.dead_max_len)});
}

std::vector<DeadLetter> TaskQueue::dead_letters(std::size_t count) {
  std::lock_guard lock(mutex_);
  const RedisReply reply =
      conn_.command({"XRANGE", queue_.dead_stream, "-", "+", "COUNT", std::to_string(std::max<std::size_t>(count, 1))});
  std::vector<DeadLetter> out;
  for (const RedisReply& e : reply.elements) {
    if (!e.is_array() || e.elements.size() < 2 || !e.elements[1].is_array()) continue;
    const RedisReply& f = e.elements[1];
    DeadLetter d{e.elements[0].str, field(f, "id"), field(f, "entry"), field(f, "reason"), 0};
    try {
      d.deliveries = std::stoll(field(f, "deliveries"));
    } catch (...) {
    }
    out.push_back(std::move(d));
  }
  return out;
}

QueueDepth TaskQueue::depth() {
  std::lock_guard lock(mutex_);
  QueueDepth d;
  d.length = conn_.command({"XLEN", queue_.stream}).integer;
  d.dead = conn_.command({"XLEN", queue_.dead_stream}).integer;
  if (d.length == 0) return d;  // also: no stream, no group
  RedisReply groups;
  try {
    groups = conn_.command({"XINFO", "GROUPS", queue_.stream});
  } catch (const RedisError&) {
    d.undelivered = d.length;
    return d;
  }
  for (const RedisReply& g : groups.elements) {
    if (field(g, "name") != queue_.group) continue;
    std::optional<std::int64_t> lag;
    for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
      const std::string& key = g.elements[i].str;
      const RedisReply& value = g.elements[i + 1];
      if (key == "pending") d.pending = value.integer;
      if (key == "lag" && value.type == RedisReply::Type::integer) lag = value.integer;
    }
    // Lag is nil when Redis cannot compute it (deletions in the unread part);
    // the stream holds only unacknowledged entries, so length - pending is exact then.
    d.undelivered = lag.value_or(std::max<std::int64_t>(d.length - d.pending, 0));
    return d;
  }
  d.undelivered = d.length;  // no group yet: nothing was delivered
  return d;
}

std::unordered_set<std::string> TaskQueue::task_ids() {
  std::lock_guard lock(mutex_);
  std::unordered_set<std::string> ids;
  std::string start = "-";
  while (true) {
    const RedisReply page = conn_.command({"XRANGE", queue_.stream, start, "+", "COUNT", "1000"});
    const auto entries = parse_entries(page, nullptr);
    for (const auto& e : entries) {
      if (!e.task_id.empty()) ids.insert(e.task_id);
    }
    if (page.elements.size() < 1000) break;
    start = "(" + page.elements.back().elements[0].str;  // exclusive start (Redis >= 6.2)
  }
  return ids;
}

bool TaskQueue::contains_task(std::string_view task_id) {
  const auto canonical = canonical_uuid(task_id);
  return canonical && task_ids().count(*canonical) != 0;
}

bool TaskQueue::ping() noexcept {
  std::lock_guard lock(mutex_);
  return conn_.ping();
}

}  // namespace fractal::storage
