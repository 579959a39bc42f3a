// The one atomic-write layer: how every file the product writes for a reader
// appears (a rendered image in the service's store, an image the CLI writes, the
// worker's liveness file). Write under a name no other writer picks, in the
// target's directory (same filesystem), sync the contents, rename onto the
// target (a reader sees the old file or the whole new one, never half), then
// sync the directory (the new name survives a crash).
//
// Header-only and POSIX-only: kernels/image (write_image), storage (ImageStore)
// and scheduler (liveness) include it without linking anything, so the server,
// which links storage, still links no render backend.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

namespace fractal::files {

// fsync of a file or directory.
[[nodiscard]] inline std::error_code sync_path(const std::filesystem::path& p, bool directory) {
  const int fd = ::open(p.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {errno, std::generic_category()};
  std::error_code ec;
  if (::fsync(fd) != 0) ec = {errno, std::generic_category()};
  ::close(fd);
  return ec;
}

// dir/<prefix><16 hex digits><suffix>: unique across threads and processes (the
// generator is per thread, seeded from the OS and the pid). The name is cut so it
// stays under NAME_MAX (255) whatever the prefix.
[[nodiscard]] inline std::filesystem::path unique_name(const std::filesystem::path& dir, std::string_view prefix,
                                                       std::string_view suffix) {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          (static_cast<std::uint64_t>(::getpid()) << 32)};
  char rnd[17];
  std::snprintf(rnd, sizeof rnd, "%016llx", static_cast<unsigned long long>(rng()));
  std::string name(prefix.substr(0, 160));
  name.append(rnd).append(suffix.substr(0, 64));
  return dir / name;
}

enum class DirectorySync {
  now,    // the rename is durable when durable_rename returns
  later,  // the caller syncs the directory once for a group of renames
  none,   // nothing needs to survive a crash (a liveness beat)
};

// Renames `temp` onto `target` (atomic on one filesystem), then syncs target's
// directory as asked. The caller synced temp's contents first (sync_path) when
// they must survive a crash. Returns the rename's error only: a failed
// directory sync loses nothing already visible, and the next sync retries it.
[[nodiscard]] inline std::error_code durable_rename(const std::filesystem::path& temp,
                                                    const std::filesystem::path& target,
                                                    DirectorySync sync = DirectorySync::now) {
  std::error_code ec;
  std::filesystem::rename(temp, target, ec);
  if (ec || sync != DirectorySync::now) return ec;
  const auto dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  (void)sync_path(dir, true);
  return ec;
}

// Removes a temp file when it goes out of scope unless keep() was called: every
// early return of a writer cleans up after itself.
class TempFile {
 public:
  explicit TempFile(std::filesystem::path path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!kept_) {
      std::error_code ec;
      std::filesystem::remove(path_, ec);
    }
  }
  const std::filesystem::path& path() const noexcept { return path_; }
  void keep() noexcept { kept_ = true; }

 private:
  std::filesystem::path path_;
  bool kept_ = false;
};

// Writes `contents` to `target` through a temp name beside it: the whole
// sequence above for a small file. With DirectorySync::none the contents are
// not synced either (nothing needs to survive a crash). Empty on success.
[[nodiscard]] inline std::string write_file_atomically(const std::filesystem::path& target, std::string_view contents,
                                                       DirectorySync sync = DirectorySync::now) {
  const auto dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  std::string prefix(1, '.');  // appended: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&
  prefix.append(target.filename().string()).append(".tmp-");
  TempFile temp(unique_name(dir, prefix, ""));
  const int fd = ::open(temp.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot create " + temp.path().string() + ": " + std::generic_category().message(errno);
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      return "cannot write " + temp.path().string() + ": " + std::generic_category().message(n < 0 ? e : ENOSPC);
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = sync == DirectorySync::none || ::fsync(fd) == 0;
  const int sync_errno = errno;
  ::close(fd);
  if (!synced) return "cannot sync " + temp.path().string() + ": " + std::generic_category().message(sync_errno);
  if (const auto ec = durable_rename(temp.path(), target, sync))
    return "cannot rename " + temp.path().string() + " to " + target.string() + ": " + ec.message();
  temp.keep();
  return {};
}

}  // namespace fractal::files
