// Rendered files on a filesystem path (a shared volume in Kubernetes), named
// <root>/<task id>.<ext>. File names are built only from a canonical task UUID
// and a short lower-case extension, never from a path a user supplied.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace fractal::storage {

class ImageStore {
 public:
  // Creates `root` (and root/.partial for writes in progress) if missing.
  explicit ImageStore(std::filesystem::path root);

  const std::filesystem::path& root() const noexcept { return root_; }

  // root/<id>.<ext>. Throws std::invalid_argument unless task_id is a UUID
  // (8-4-4-4-12 hex; upper case is folded) and ext is 1-8 of [a-z0-9].
  std::filesystem::path path_for(std::string_view task_id, std::string_view extension) const;
  // The path of a file name recorded for a task (TaskRecord::file_path, as the
  // worker gave it to mark_done): only "<task id>.<ext>" names a file, so a
  // record cannot point outside root or at another task's file; nullopt else.
  std::optional<std::filesystem::path> recorded_path(std::string_view task_id, std::string_view file_name) const;
  // A unique name under root/.partial (same filesystem), for writing then commit().
  std::filesystem::path temp_path_for(std::string_view task_id, std::string_view extension) const;
  // Renames a finished temp file onto path_for() atomically: a download never
  // sees a half-written file. Returns the final path.
  // With sync_directory false the rename is not yet durable: call sync() once
  // for a group of commits before recording them done.
  std::filesystem::path commit(const std::filesystem::path& temp, std::string_view task_id,
                               std::string_view extension, bool sync_directory = true) const;
  // fsync of the root directory: makes the renames before it durable.
  void sync() const;
  // Removes temp files under root/.partial older than max_age (writes a killed
  // worker left behind); returns how many went.
  std::size_t sweep_partial(std::chrono::seconds max_age) const;

  // Whether a file can be created under root/.partial now (re-creating that
  // directory if it went missing): nullopt when it can, else what failed
  // (ENOENT, EACCES, EROFS, ENOSPC, EIO...). Tells a write that failed because
  // of the store (an unmounted, read-only or full volume: wait for it) from
  // one that failed because of what was written.
  std::optional<std::string> write_problem() const;

  bool exists(std::string_view task_id, std::string_view extension) const;
  std::optional<std::uintmax_t> size(std::string_view task_id, std::string_view extension) const;
  // Removes root/<id>.<ext> for every output format (png, jpg, tiff, exr) and
  // leftover temp files of that task; returns how many files went.
  std::size_t remove(std::string_view task_id) const;

 private:
  std::filesystem::path root_;
};

}  // namespace fractal::storage
