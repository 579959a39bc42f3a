#include "tests/support/scratch_dir.h"

#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace fractal::test {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kPrefix = "fractal-test-";

bool owner_alive(const fs::path& dir) {
  std::ifstream in(dir / "owner.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) {
    // No pid yet: either being created right now or a crash in between. Only
    // directories older than a minute count as abandoned.
    std::error_code ec;
    const auto mtime = fs::last_write_time(dir, ec);
    if (ec) return true;
    return fs::file_time_type::clock::now() - mtime < std::chrono::minutes(1);
  }
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

void sweep_abandoned(const fs::path& root) noexcept {
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    std::error_code type_ec;
    if (!it->is_directory(type_ec) || it->is_symlink(type_ec)) continue;
    if (!owner_alive(it->path())) remove_tree(it->path());
  }
}

}  // namespace

fs::path temp_root() {
  if (const char* env = std::getenv("FRACTAL_TEST_TMPDIR"); env && *env) return env;
  // A Postgres cluster is ~25 MB of files written at start-up: on a busy
  // disk that copy alone takes a second, in RAM a few milliseconds.
  struct statvfs vfs {};
  if (::access("/dev/shm", W_OK | X_OK) == 0 && ::statvfs("/dev/shm", &vfs) == 0 &&
      static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize >= (1ULL << 30))
    return "/dev/shm";
  const char* tmp = std::getenv("TMPDIR");
  return fs::path(tmp && *tmp ? tmp : "/tmp");
}

fs::path make_scratch_dir(std::string_view kind) {
  const fs::path root = temp_root();
  sweep_abandoned(root);
  std::string pattern = (root / (std::string(kPrefix) + std::string(kind) + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + pattern + ": " + strerror(errno));
  const fs::path dir(pattern);
  std::ofstream(dir / "owner.pid") << getpid() << '\n';
  return dir;
}

void remove_tree(const fs::path& dir) noexcept {
  if (dir.empty()) return;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace fractal::test
