// Redis access: an RAII hiredis connection, the task stream (TaskQueue) and
// the small key/value operations the auth layer needs (RedisKv).
//
// Stream model. `fractal:tasks` holds one entry {id: <task id>} per task to
// render, read by consumer group `renderers`. An entry is deleted (XDEL) when
// it is acknowledged, so the stream holds exactly the unacknowledged entries:
// XLEN is the queue depth and a scan of the stream finds every task still
// queued in Redis. A worker keeps its claims alive with touch(); entries of a
// worker that stopped doing so are taken over with autoclaim(); entries
// delivered too often go to `fractal:tasks:dead` via dead_letter().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "storage/errors.h"
#include "storage/redis_keys.h"

struct redisContext;  // hiredis, kept out of this header

namespace fractal::storage {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{2000};  // read/write timeout of ordinary commands
  std::string user;                                 // ACL user for AUTH; empty: the default user
  std::string password;                             // AUTH when not empty
  int db = 0;                                       // SELECT when not 0
};

// A reply, copied out of hiredis' reply tree.
struct RedisReply {
  enum class Type { nil, string, status, integer, array, error };
  Type type = Type::nil;
  std::string str;                  // string, status and error replies
  long long integer = 0;
  std::vector<RedisReply> elements; // array replies

  bool is_nil() const noexcept { return type == Type::nil; }
  bool is_array() const noexcept { return type == Type::array; }
};

// One connection; not thread-safe (TaskQueue and RedisKv add the locking).
// Connects lazily and reconnects after any I/O error. Commands go through
// redisCommandArgv, so arguments are never interpreted as a format string.
class RedisConnection {
 public:
  struct CommandOptions {
    // Replaces command_timeout for this command, e.g. block time + margin for
    // XREADGROUP BLOCK (hiredis treats a read timeout as a dead connection).
    // Zero: no timeout at all.
    std::optional<std::chrono::milliseconds> read_timeout;
    // Whether the command may be sent again after an I/O error left its fate
    // unknown. Default: decided by a table of idempotent command names.
    std::optional<bool> idempotent;

    // Options of a command that may be resent after an I/O error.
    static CommandOptions resendable() {
      CommandOptions o;
      o.idempotent = true;
      return o;
    }
  };

  explicit RedisConnection(RedisOptions options);
  ~RedisConnection();
  RedisConnection(RedisConnection&& other) noexcept;
  RedisConnection& operator=(RedisConnection&& other) noexcept;
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Throws StorageUnavailable when Redis cannot be reached or the connection
  // fails mid-command, RedisError for an error reply.
  RedisReply command(const std::vector<std::string>& argv, const CommandOptions& options);
  RedisReply command(const std::vector<std::string>& argv) { return command(argv, CommandOptions{}); }
  // Sends every command, then reads every reply: one round trip for all.
  // Error replies come back in place (type error) unless they mean Redis is
  // unavailable (LOADING, ...: StorageUnavailable). An I/O error resends the
  // whole pipeline once when `idempotent` (all or none of it may be repeated).
  std::vector<RedisReply> pipeline(const std::vector<std::vector<std::string>>& commands, bool idempotent = false);
  bool ping() noexcept;
  void disconnect() noexcept;
  bool connected() const noexcept { return ctx_ != nullptr; }
  const RedisOptions& options() const noexcept { return options_; }

 private:
  void ensure_connected();

  RedisOptions options_;
  redisContext* ctx_ = nullptr;
};

struct QueueOptions {
  std::string stream{keys::kTaskStream};
  std::string group{keys::kTaskGroup};
  std::string dead_stream{keys::kDeadStream};
  std::size_t dead_max_len = 10000;  // approximate cap of the dead-letter stream
};

struct StreamEntry {
  std::string id;           // stream entry id, e.g. "1718000000000-0"
  std::string task_id;      // field `id`; empty for a malformed entry (dead-letter it)
  std::int64_t deliveries = 1;
};

struct DeadLetter {
  std::string id;           // entry id in the dead-letter stream
  std::string task_id;
  std::string entry_id;     // its id in the task stream
  std::string reason;
  std::int64_t deliveries = 0;
};

struct QueueDepth {
  std::int64_t length = 0;       // unacknowledged entries (XLEN)
  std::int64_t pending = 0;      // delivered, not yet acknowledged
  std::int64_t undelivered = 0;  // waiting for a first delivery (group lag)
  std::int64_t dead = 0;         // dead-letter stream length
};

// Thread-safe: ordinary commands share one connection, blocking reads use a
// second one (a blocked XREADGROUP would otherwise hold up enqueue/ack).
class TaskQueue {
 public:
  explicit TaskQueue(RedisOptions redis, QueueOptions queue = {});

  // XGROUP CREATE <stream> <group> 0 MKSTREAM, ignoring BUSYGROUP. Done lazily
  // before the first command and again when Redis answers NOGROUP (data lost).
  // Id 0, not $: entries added before the group existed (e.g. by a server that
  // re-created the stream after Redis lost its data) are still delivered.
  void ensure_group();

  // XADD <stream> * id <task_id>; returns the entry id. task_id must be a UUID.
  std::string enqueue(std::string_view task_id);
  // One XADD per task id, in order, in ONE round trip (a Lua script, so the
  // entries are added together or not at all); returns the entry ids. Every
  // id must be a UUID. Like enqueue, never resent after an I/O error.
  std::vector<std::string> enqueue_many(const std::vector<std::string>& task_ids);
  // XREADGROUP ... BLOCK block_ms STREAMS <stream> >: new entries (deliveries 1),
  // empty after block_ms without any. One blocking reader at a time.
  std::vector<StreamEntry> read(std::string_view consumer, std::size_t count, std::chrono::milliseconds block);
  // XACK + XDEL (atomically); false when the entry was no longer pending.
  bool ack(std::string_view entry_id);
  // ack() for many entries in one round trip; per entry, in order, whether
  // this call acknowledged it.
  std::vector<bool> ack_many(const std::vector<std::string>& entry_ids);
  // This consumer's own pending entries (XREADGROUP with id 0), e.g. after a
  // restart under the same consumer name; delivery counts from XPENDING.
  std::vector<StreamEntry> pending_for(std::string_view consumer, std::size_t count = 100);
  // Takes over entries idle for at least min_idle (XAUTOCLAIM, Redis 7.0 reply
  // form), up to `count`, with their delivery counts (XPENDING).
  std::vector<StreamEntry> autoclaim(std::string_view consumer, std::chrono::milliseconds min_idle, std::size_t count);
  // Keep-alive: resets the idle time of entries this consumer still holds
  // (XCLAIM ... JUSTID, which leaves delivery counts alone). Checks ownership
  // atomically first, so a claim already taken over is never stolen back;
  // returns the ids still held. A render whose id is missing lost its claim.
  std::vector<std::string> touch(std::string_view consumer, const std::vector<std::string>& entry_ids);
  // XADD to the dead-letter stream + XACK + XDEL, atomically.
  void dead_letter(const StreamEntry& entry, std::string_view reason);
  std::vector<DeadLetter> dead_letters(std::size_t count = 100);  // oldest first

  QueueDepth depth();
  // Whether some unacknowledged entry carries task_id. Cost: a scan of the whole
  // stream, O(depth) in 1000-entry XRANGE pages. For the reconciler, which
  // should call task_ids() once per pass instead of this per task.
  bool contains_task(std::string_view task_id);
  std::unordered_set<std::string> task_ids();

  bool ping() noexcept;
  const QueueOptions& options() const noexcept { return queue_; }

 private:
  template <class F>
  auto with_group(RedisConnection& conn, F&& f);

  QueueOptions queue_;
  std::mutex mutex_;           // guards conn_
  RedisConnection conn_;
  std::mutex blocking_mutex_;  // guards blocking_
  RedisConnection blocking_;
  std::atomic<bool> group_ready_{false};
};

// Plain key/value operations with expiry; the auth layer maps sign-in attempt
// counters and revoked token ids onto them. Thread-safe (one locked connection).
class RedisKv {
 public:
  explicit RedisKv(RedisOptions redis);

  // INCR, and EXPIRE when the key has no expiry yet (a fixed window starting at
  // the first increment), atomically. Returns the new count.
  std::int64_t incr_with_expiry(std::string_view key, std::chrono::seconds ttl);
  std::optional<std::int64_t> get_int(std::string_view key);
  // Remaining time to live; nullopt when the key is missing or never expires.
  std::optional<std::chrono::seconds> ttl(std::string_view key);
  bool del(std::string_view key);  // true if it existed
  // SET key value EX ttl (ttl below one second is raised to one).
  void set_with_expiry(std::string_view key, std::string_view value, std::chrono::seconds ttl);
  bool exists(std::string_view key);
  bool ping() noexcept;

 private:
  std::mutex mutex_;
  RedisConnection conn_;
};

}  // namespace fractal::storage
