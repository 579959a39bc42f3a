// A child process started with an argv vector (no shell), owned RAII-style.
// Used by TempPostgres and TempRedis; small enough to serve other test helpers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fractal::test {

// Credentials to switch to in the child before exec (root only).
struct RunAs {
  uid_t uid;
  gid_t gid;
};

struct SpawnOptions {
  std::vector<std::string> argv;      // argv[0]: absolute path, or a name looked up on PATH
  std::filesystem::path log_file;     // stdout and stderr are appended here; empty: /dev/null
  std::filesystem::path cwd;          // empty: inherit
  std::optional<RunAs> run_as;        // setgid/setuid in the child
  // Signal the child gets when the thread that spawned it exits (Linux
  // PR_SET_PDEATHSIG), so a test killed by ctest leaves no server behind.
  // Consequence: spawn servers from a thread that outlives them (e.g. main).
  int parent_death_signal = 0;
};

class ChildProcess {
 public:
  ChildProcess() = default;
  // Starts the program; throws std::runtime_error when fork or exec fails.
  static ChildProcess spawn(const SpawnOptions& options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();  // SIGKILL + reap if still running

  pid_t pid() const noexcept { return pid_; }
  bool valid() const noexcept { return pid_ > 0; }
  // Reaps without blocking; false once the child has exited.
  bool running();
  // Raw wait status once the child has exited.
  std::optional<int> exit_status() const noexcept { return status_; }
  // Polls until the child exits; false on timeout.
  bool wait_for_exit(std::chrono::milliseconds timeout);
  void send_signal(int sig) noexcept;
  // Sends `sig`, waits up to `grace`, then SIGKILL; always reaps.
  void stop(int sig, std::chrono::milliseconds grace) noexcept;

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Runs a program to completion; returns its raw wait status. Throws
// std::runtime_error when it cannot start or runs past `timeout` (then killed).
int run_to_completion(const SpawnOptions& options, std::chrono::milliseconds timeout);

// "exit code 1", "killed by signal 9".
std::string describe_wait_status(int status);
bool exited_ok(int status) noexcept;

// Last `max_bytes` of a text file (for error messages); empty if unreadable.
std::string file_tail(const std::filesystem::path& file, std::size_t max_bytes = 2000);

}  // namespace fractal::test
