#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>

#include "storage/redis.h"

namespace fractal::storage {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  const auto count = std::max<long long>(ms.count(), 0);
  return timeval{static_cast<time_t>(count / 1000), static_cast<suseconds_t>((count % 1000) * 1000)};
}

// Commands that may be sent again when an I/O error leaves their fate unknown.
// XADD, INCR, XREADGROUP, XAUTOCLAIM and EVAL are deliberately absent.
constexpr std::array<std::string_view, 19> kIdempotent{
    "PING", "GET", "SET", "DEL", "EXISTS", "TTL", "PTTL", "EXPIRE", "XLEN", "XPENDING",
    "XINFO", "XACK", "XDEL", "XRANGE", "XREVRANGE", "XGROUP", "INFO", "AUTH", "SELECT"};

// Error replies that mean "this Redis cannot serve now, ask again soon", not
// "your command is wrong": loading its dataset after a restart, a script or
// module running too long, a replica cut off from its primary, a cluster slot
// moving, or a password required that --redis does not give (NOAUTH). They
// are outages (503 + Retry-After, retried with back-off).
constexpr std::array<std::string_view, 6> kUnavailablePrefixes{"LOADING",  "BUSY",        "MASTERDOWN",
                                                               "TRYAGAIN", "CLUSTERDOWN", "NOAUTH"};

bool is_unavailable_reply(std::string_view message) {
  const std::string_view code = message.substr(0, message.find(' '));
  return std::find(kUnavailablePrefixes.begin(), kUnavailablePrefixes.end(), code) != kUnavailablePrefixes.end();
}

bool is_idempotent(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  return std::find(kIdempotent.begin(), kIdempotent.end(), upper) != kIdempotent.end();
}

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::string; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::status; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::error; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::integer; out.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default: out.type = RedisReply::Type::nil; break;
  }
  return out;
}

// hiredis 0.14 writes with plain write(): a connection closed by the server
// would raise SIGPIPE and kill the process. Block it on this thread for the
// duration of a command and swallow one raised meanwhile (what libpq does).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        const timespec zero{0, 0};
        sigtimedwait(&pipe, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

// An idle connection with something to read was closed by the server (restart,
// timeout, CLIENT KILL) or is out of step: do not send on it.
bool idle_connection_alive(const redisContext* ctx) {
  pollfd p{ctx->fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};

}  // namespace

RedisConnection::RedisConnection(RedisOptions options) : options_(std::move(options)) {}

RedisConnection::~RedisConnection() { disconnect(); }

RedisConnection::RedisConnection(RedisConnection&& other) noexcept
    : options_(std::move(other.options_)), ctx_(other.ctx_) {
  other.ctx_ = nullptr;
}

RedisConnection& RedisConnection::operator=(RedisConnection&& other) noexcept {
  if (this != &other) {
    disconnect();
    options_ = std::move(other.options_);
    ctx_ = other.ctx_;
    other.ctx_ = nullptr;
  }
  return *this;
}

void RedisConnection::disconnect() noexcept {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

void RedisConnection::ensure_connected() {
  if (ctx_ != nullptr && (ctx_->err != 0 || !idle_connection_alive(ctx_))) disconnect();
  if (ctx_ != nullptr) return;
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  redisContext* ctx = redisConnectWithTimeout(options_.host.c_str(), options_.port, to_timeval(options_.connect_timeout));
  if (ctx == nullptr) throw StorageUnavailable("redis", "connect " + where + ": out of memory");
  if (ctx->err != 0) {
    const std::string message = ctx->errstr;
    redisFree(ctx);
    throw StorageUnavailable("redis", "connect " + where + ": " + message);
  }
  redisSetTimeout(ctx, to_timeval(options_.command_timeout));
  redisEnableKeepAlive(ctx);
  ctx_ = ctx;
  try {
    if (!options_.password.empty()) {
      if (options_.user.empty())
        command({"AUTH", options_.password});
      else
        command({"AUTH", options_.user, options_.password});
    }
    if (options_.db != 0) command({"SELECT", std::to_string(options_.db)});
  } catch (const RedisError& e) {
    // A refused password (WRONGPASS, or a Redis without one) or database
    // (SELECT out of range): this Redis cannot be used as configured. Treated
    // as an outage, so servers answer 503 and workers retry with back-off
    // until the configuration or the Redis is fixed, instead of crashing.
    disconnect();
    throw StorageUnavailable("redis", "connect " + where + ": " + e.what() +
                                          " (check the password and db of --redis / FRACTAL_REDIS)");
  } catch (...) {
    disconnect();  // never leave a half-set-up connection behind
    throw;
  }
}

std::vector<RedisReply> RedisConnection::pipeline(const std::vector<std::vector<std::string>>& commands,
                                                  bool idempotent) {
  std::vector<RedisReply> out;
  if (commands.empty()) return out;
  for (const auto& argv : commands)
    if (argv.empty()) throw std::invalid_argument("redis command without a name");
  for (int attempt = 1;; ++attempt) {
    ensure_connected();
    out.clear();
    bool io_error = false;
    {
      SigpipeBlock no_sigpipe;
      std::vector<const char*> args;
      std::vector<size_t> lengths;
      for (const auto& argv : commands) {
        args.clear();
        lengths.clear();
        for (const auto& a : argv) {
          args.push_back(a.data());
          lengths.push_back(a.size());
        }
        if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lengths.data()) != REDIS_OK) {
          io_error = true;
          break;
        }
      }
      for (std::size_t i = 0; !io_error && i < commands.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
          io_error = true;
          break;
        }
        std::unique_ptr<redisReply, ReplyDeleter> reply(static_cast<redisReply*>(raw));
        out.push_back(convert(reply.get()));
      }
    }
    if (io_error) {
      const std::string message = ctx_ && ctx_->errstr[0] ? ctx_->errstr : "connection lost";
      disconnect();
      if (idempotent && attempt == 1) continue;
      throw StorageUnavailable("redis", commands.front().front() + " (pipeline of " +
                                            std::to_string(commands.size()) + "): " + message);
    }
    for (const RedisReply& r : out) {
      if (r.type == RedisReply::Type::error && is_unavailable_reply(r.str))
        throw StorageUnavailable("redis", commands.front().front() + " (pipeline): " + r.str);
    }
    return out;
  }
}

RedisReply RedisConnection::command(const std::vector<std::string>& argv, const CommandOptions& options) {
  if (argv.empty()) throw std::invalid_argument("redis command without a name");
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  const bool retry = options.idempotent.value_or(is_idempotent(argv.front()));

  for (int attempt = 1;; ++attempt) {
    ensure_connected();
    if (options.read_timeout) redisSetTimeout(ctx_, to_timeval(*options.read_timeout));
    std::unique_ptr<redisReply, ReplyDeleter> reply;
    {
      SigpipeBlock no_sigpipe;
      reply.reset(static_cast<redisReply*>(
          redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lengths.data())));
    }
    if (!reply) {
      // The context is unusable after any I/O error or timeout.
      std::string message = ctx_->errstr[0] ? ctx_->errstr : "connection lost";
      if (ctx_->err == REDIS_ERR_IO && message.find("temporarily unavailable") != std::string::npos)
        message = "no reply within the timeout";
      disconnect();
      if (retry && attempt == 1) continue;
      throw StorageUnavailable("redis", argv.front() + ": " + message);
    }
    if (options.read_timeout) redisSetTimeout(ctx_, to_timeval(options_.command_timeout));
    RedisReply out = convert(reply.get());
    if (out.type == RedisReply::Type::error) {
      if (is_unavailable_reply(out.str)) throw StorageUnavailable("redis", argv.front() + ": " + out.str);
      throw RedisError("redis " + argv.front() + ": " + out.str);
    }
    return out;
  }
}

bool RedisConnection::ping() noexcept {
  try {
    const RedisReply r = command({"PING"});
    return r.type == RedisReply::Type::status && r.str == "PONG";
  } catch (...) {
    return false;
  }
}

}  // namespace fractal::storage
