#include "tests/support/temp_redis.h"

#include <hiredis/hiredis.h>
#include <signal.h>

#include <memory>
#include <stdexcept>
#include <thread>

#include "tests/support/free_port.h"
#include "tests/support/scratch_dir.h"

namespace fractal::test {
namespace {

constexpr int kPortAttempts = 6;

struct ContextCloser {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
struct ReplyCloser {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextCloser>;
using Reply = std::unique_ptr<redisReply, ReplyCloser>;

Reply command(redisContext* c, std::initializer_list<std::string> args);

Context connect(std::uint16_t port, const std::string& password) {
  Context c(redisConnectWithTimeout("127.0.0.1", port, timeval{1, 0}));
  if (!c || c->err) return nullptr;
  redisSetTimeout(c.get(), timeval{2, 0});
  if (!password.empty()) {
    Reply auth = command(c.get(), {"AUTH", password});
    if (!auth || auth->type == REDIS_REPLY_ERROR) return nullptr;
  }
  return c;
}

Reply command(redisContext* c, std::initializer_list<std::string> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

// Ready when *our* server answers: PING alone could reach another test's
// Redis that won the race for the port while ours is about to fail its bind.
bool answers_as(std::uint16_t port, pid_t pid, const std::string& password) {
  Context c = connect(port, password);
  if (!c) return false;
  Reply info = command(c.get(), {"INFO", "server"});
  if (!info || info->type != REDIS_REPLY_STRING) return false;  // e.g. LOADING error while reading the AOF
  const std::string text(info->str, info->len);
  const std::string needle = "process_id:" + std::to_string(pid) + "\r\n";
  if (text.find(needle) == std::string::npos) return false;
  Reply pong = command(c.get(), {"PING"});
  return pong && pong->type == REDIS_REPLY_STATUS && std::string(pong->str, pong->len) == "PONG";
}

}  // namespace

TempRedis::TempRedis() : TempRedis(Options{}) {}

TempRedis::TempRedis(Options options) : options_(std::move(options)) {
  dir_ = make_scratch_dir("redis");
  log_file_ = dir_ / "redis.log";
  try {
    std::string failure;
    bool started = false;
    for (int attempt = 0; attempt < kPortAttempts && !started; ++attempt) {
      port_ = free_tcp_port();
      started = launch(&failure);
      if (!started && failure.find("Address already in use") == std::string::npos) break;
    }
    if (!started) throw std::runtime_error("TempRedis: server did not start: " + failure);
  } catch (...) {
    server_.stop(SIGKILL, std::chrono::milliseconds(0));
    remove_tree(dir_);
    throw;
  }
}

TempRedis::~TempRedis() {
  server_.stop(SIGKILL, std::chrono::milliseconds(0));
  remove_tree(dir_);
}

void TempRedis::spawn_server() {
  SpawnOptions spawn;
  spawn.argv = {"redis-server",
                "--port", std::to_string(port_),
                "--bind", "127.0.0.1",
                "--dir", dir_.string(),
                "--daemonize", "no",
                "--save", "",
                "--appendonly", options_.append_only ? "yes" : "no",
                "--logfile", "",  // stdout, which goes to log_file_
                "--protected-mode", "no"};
  if (!options_.password.empty()) {
    spawn.argv.push_back("--requirepass");
    spawn.argv.push_back(options_.password);
  }
  for (const auto& a : options_.extra_args) spawn.argv.push_back(a);
  spawn.log_file = log_file_;
  spawn.cwd = dir_;
  spawn.parent_death_signal = SIGKILL;
  server_ = ChildProcess::spawn(spawn);
}

bool TempRedis::wait_answering(std::string* failure) {
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    if (!server_.running()) {
      *failure = "redis-server exited (" + describe_wait_status(server_.exit_status().value_or(0)) + "):\n" +
                 file_tail(log_file_);
      return false;
    }
    if (answers_as(port_, server_.pid(), options_.password)) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      server_.stop(SIGKILL, std::chrono::milliseconds(0));
      *failure = "no PONG within " + std::to_string(options_.start_timeout.count()) + " s:\n" + file_tail(log_file_);
      return false;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

bool TempRedis::launch(std::string* failure) {
  spawn_server();
  return wait_answering(failure);
}

bool TempRedis::running() { return server_.running(); }

void TempRedis::stop() { server_.stop(SIGTERM, std::chrono::seconds(30)); }

void TempRedis::kill() { server_.stop(SIGKILL, std::chrono::milliseconds(0)); }

void TempRedis::start() {
  if (server_.running()) return;
  std::string failure;
  if (!launch(&failure)) throw std::runtime_error("TempRedis: restart on port " + std::to_string(port_) + " failed: " + failure);
}

void TempRedis::start_no_wait() {
  if (!server_.running()) spawn_server();
}

void TempRedis::wait_ready() {
  std::string failure;
  if (!wait_answering(&failure))
    throw std::runtime_error("TempRedis: no PONG on port " + std::to_string(port_) + ": " + failure);
}

void TempRedis::populate(std::size_t keys, std::size_t value_bytes) {
  Context c = connect(port_, options_.password);
  if (!c) throw std::runtime_error("TempRedis: cannot connect to port " + std::to_string(port_));
  const std::string value(value_bytes, 'v');
  constexpr std::size_t kChunk = 10000;  // replies read back per round trip
  for (std::size_t done = 0; done < keys;) {
    const std::size_t n = std::min(kChunk, keys - done);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string key = "fill:" + std::to_string(done + i);
      const char* argv[] = {"SET", key.data(), value.data()};
      const size_t lens[] = {3, key.size(), value.size()};
      redisAppendCommandArgv(c.get(), 3, argv, lens);
    }
    for (std::size_t i = 0; i < n; ++i) {
      void* raw = nullptr;
      if (redisGetReply(c.get(), &raw) != REDIS_OK) throw std::runtime_error("TempRedis: populate lost the connection");
      Reply r(static_cast<redisReply*>(raw));
      if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error("TempRedis: populate: " + std::string(r->str, r->len));
    }
    done += n;
  }
}

void TempRedis::flushall() {
  Context c = connect(port_, options_.password);
  if (!c) throw std::runtime_error("TempRedis: cannot connect to port " + std::to_string(port_));
  Reply r = command(c.get(), {"FLUSHALL"});
  if (!r || r->type == REDIS_REPLY_ERROR) throw std::runtime_error("TempRedis: FLUSHALL failed");
}

std::string TempRedis::log_tail(std::size_t max_bytes) const { return file_tail(log_file_, max_bytes); }

}  // namespace fractal::test
