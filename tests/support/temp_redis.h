// A real, throw-away redis-server for integration tests, on 127.0.0.1 and a
// free port, working dir in a fresh temp dir. No persistence by default; with
// Options::append_only the AOF is on, so stop() + start() keeps the data.
// With Options::password it requires that password (AUTH) like a production Redis.
// The server dies with the thread that created the object (PR_SET_PDEATHSIG).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace fractal::test {

class TempRedis {
 public:
  struct Options {
    bool append_only = false;               // --appendonly yes (appendfsync everysec)
    std::vector<std::string> extra_args;    // e.g. {"--maxmemory", "64mb"}
    std::string password;                   // --requirepass; empty: none
    std::chrono::seconds start_timeout{15};
  };

  TempRedis();
  explicit TempRedis(Options options);
  ~TempRedis();
  TempRedis(const TempRedis&) = delete;
  TempRedis& operator=(const TempRedis&) = delete;

  std::string host() const { return "127.0.0.1"; }
  std::uint16_t port() const noexcept { return port_; }
  const std::string& password() const noexcept { return options_.password; }
  // redis://[:password@]127.0.0.1:port (password not %-encoded: keep test passwords plain)
  std::string url() const {
    return "redis://" + (options_.password.empty() ? std::string() : ":" + options_.password + "@") + "127.0.0.1:" +
           std::to_string(port_);
  }
  const std::filesystem::path& dir() const noexcept { return dir_; }
  bool running();

  // SIGTERM: Redis flushes the AOF and exits; returns once it is gone.
  void stop();
  // SIGKILL: like a crash.
  void kill();
  // Starts again on the same port and dir; waits for PING. Throws if the port was taken.
  void start();
  // Starts the process and returns at once: with a large AOF, Redis then
  // answers LOADING for a while. wait_ready() waits for PONG.
  void start_no_wait();
  void wait_ready();
  void flushall();
  // SETs `keys` keys of `value_bytes` bytes (pipelined), so that with AOF on
  // the next start has a large file to load (pass --auto-aof-rewrite-percentage 0
  // in extra_args to keep it in command form, which loads slowest).
  void populate(std::size_t keys, std::size_t value_bytes = 16);

  std::string log_tail(std::size_t max_bytes = 4000) const;

 private:
  bool launch(std::string* failure);
  void spawn_server();
  bool wait_answering(std::string* failure);

  Options options_;
  std::filesystem::path dir_;
  std::filesystem::path log_file_;
  std::uint16_t port_ = 0;
  ChildProcess server_;
};

}  // namespace fractal::test
