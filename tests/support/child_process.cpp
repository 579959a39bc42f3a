#include "tests/support/child_process.h"
#include "tests/support/sanitizer_slowdown.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace fractal::test {
namespace {

[[noreturn]] void child_fail(int fd, const char* what) noexcept {
  // Only async-signal-safe calls between fork and exec.
  if (fd >= 0) {
    const char prefix[] = "spawn: ";
    (void)!write(fd, prefix, sizeof prefix - 1);
    (void)!write(fd, what, strlen(what));
    const char* err = strerror(errno);
    (void)!write(fd, ": ", 2);
    (void)!write(fd, err, strlen(err));
    (void)!write(fd, "\n", 1);
  }
  _exit(127);
}

void close_fds_from(int first) noexcept {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
#endif
  const long max_fd = sysconf(_SC_OPEN_MAX);
  for (long fd = first; fd < (max_fd > 0 ? max_fd : 1024); ++fd) close(static_cast<int>(fd));
}

}  // namespace

ChildProcess ChildProcess::spawn(const SpawnOptions& options) {
  if (options.argv.empty()) throw std::invalid_argument("spawn: empty argv");

  // Everything the child needs is prepared before fork: after fork in a
  // multi-threaded process only async-signal-safe calls are allowed.
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string cwd = options.cwd.string();

  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) throw std::runtime_error("spawn: cannot open /dev/null: " + std::string(strerror(errno)));
  int log_fd = -1;
  if (!options.log_file.empty()) {
    log_fd = open(options.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      const int e = errno;
      close(devnull);
      throw std::runtime_error("spawn: cannot open log " + options.log_file.string() + ": " + strerror(e));
    }
    if (options.run_as) (void)!fchown(log_fd, options.run_as->uid, options.run_as->gid);
  } else {
    log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(devnull);
    close(log_fd);
    throw std::runtime_error("spawn: fork failed: " + std::string(strerror(e)));
  }
  if (pid == 0) {
    if (dup2(devnull, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
      child_fail(log_fd, "dup2");
    close_fds_from(3);
    if (options.run_as) {
      const gid_t gid = options.run_as->gid;
      if (setgroups(1, &gid) != 0) child_fail(STDERR_FILENO, "setgroups");
      if (setgid(gid) != 0) child_fail(STDERR_FILENO, "setgid");
      if (setuid(options.run_as->uid) != 0) child_fail(STDERR_FILENO, "setuid");
    }
    // After the credential change: changing credentials clears the setting.
    if (options.parent_death_signal != 0) {
      if (prctl(PR_SET_PDEATHSIG, options.parent_death_signal) != 0) child_fail(STDERR_FILENO, "prctl");
      if (getppid() != parent) _exit(128 + options.parent_death_signal);  // parent already gone
    }
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) child_fail(STDERR_FILENO, "chdir");
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv.data());
    child_fail(STDERR_FILENO, argv[0]);
  }
  close(devnull);
  close(log_fd);
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_), status_(other.status_) {
  other.pid_ = -1;
  other.status_.reset();
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (valid()) stop(SIGKILL, std::chrono::milliseconds(0));
    pid_ = other.pid_;
    status_ = other.status_;
    other.pid_ = -1;
    other.status_.reset();
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (valid()) stop(SIGKILL, std::chrono::milliseconds(0));
}

bool ChildProcess::running() {
  if (!valid() || status_) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    return false;
  }
  if (r < 0 && errno == ECHILD) {  // reaped elsewhere: treat as gone
    status_ = 0;
    return false;
  }
  return true;
}

bool ChildProcess::wait_for_exit(std::chrono::milliseconds timeout) {
  // A sanitized child exits slower (leak check at exit): the wait stretches too.
  const auto deadline = std::chrono::steady_clock::now() + sanitizer_scaled(timeout);
  auto pause = std::chrono::milliseconds(1);
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  return true;
}

void ChildProcess::send_signal(int sig) noexcept {
  if (valid() && !status_) ::kill(pid_, sig);
}

void ChildProcess::stop(int sig, std::chrono::milliseconds grace) noexcept {
  if (!valid()) return;
  if (running()) {
    ::kill(pid_, sig);
    if (!wait_for_exit(grace)) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      status_ = status;
    }
  }
  pid_ = -1;
}

int run_to_completion(const SpawnOptions& options, std::chrono::milliseconds timeout) {
  ChildProcess child = ChildProcess::spawn(options);
  if (!child.wait_for_exit(timeout)) {
    child.stop(SIGKILL, std::chrono::milliseconds(0));
    throw std::runtime_error(options.argv.front() + " did not finish within " +
                             std::to_string(timeout.count()) + " ms");
  }
  return *child.exit_status();
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

bool exited_ok(int status) noexcept { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

std::string file_tail(const std::filesystem::path& file, std::size_t max_bytes) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return {};
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > static_cast<std::streamoff>(max_bytes) ? size - static_cast<std::streamoff>(max_bytes) : 0;
  in.seekg(start);
  std::string out(static_cast<std::size_t>(size - start), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

}  // namespace fractal::test
