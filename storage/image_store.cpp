#include "storage/image_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <stdexcept>
#include <string>
#include <system_error>

#include "runtime/durable_file.h"
#include "storage/uuid.h"

namespace fractal::storage {
namespace fs = std::filesystem;
namespace {

constexpr std::array<std::string_view, 4> kFormats{"png", "jpg", "tiff", "exr"};

bool valid_extension(std::string_view ext) {
  if (ext.empty() || ext.size() > 8) return false;
  for (char c : ext) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

std::string checked_id(std::string_view task_id) {
  auto id = canonical_uuid(task_id);
  if (!id) throw std::invalid_argument("image store: not a task id: \"" + std::string(task_id.substr(0, 64)) + "\"");
  return *id;
}

void check_extension(std::string_view ext) {
  if (!valid_extension(ext))
    throw std::invalid_argument("image store: bad file extension: \"" + std::string(ext.substr(0, 16)) + "\"");
}

// In-progress writes live in root/.partial (same filesystem, so the final
// rename is atomic); remove() then scans only that small directory.
constexpr std::string_view kPartialDir = ".partial";
std::string temp_prefix(const std::string& id) { return id + "."; }

}  // namespace

ImageStore::ImageStore(fs::path root) : root_(std::move(root).lexically_normal()) {
  if (!root_.has_filename() && root_.has_parent_path() && root_ != root_.root_path()) root_ = root_.parent_path();
  fs::create_directories(root_ / kPartialDir);
}

fs::path ImageStore::path_for(std::string_view task_id, std::string_view extension) const {
  const std::string id = checked_id(task_id);
  check_extension(extension);
  return root_ / (id + "." + std::string(extension));
}

std::optional<fs::path> ImageStore::recorded_path(std::string_view task_id, std::string_view file_name) const {
  const auto id = canonical_uuid(task_id);
  if (!id || file_name.size() <= id->size() + 1 || file_name.substr(0, id->size()) != *id ||
      file_name[id->size()] != '.')
    return std::nullopt;
  const std::string_view ext = file_name.substr(id->size() + 1);
  if (!valid_extension(ext)) return std::nullopt;
  return root_ / std::string(file_name);
}

fs::path ImageStore::temp_path_for(std::string_view task_id, std::string_view extension) const {
  const std::string id = checked_id(task_id);
  check_extension(extension);
  std::string suffix(1, '.');  // appended: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&
  suffix.append(extension).append(".tmp");
  return files::unique_name(root_ / kPartialDir, temp_prefix(id), suffix);
}

fs::path ImageStore::commit(const fs::path& temp, std::string_view task_id, std::string_view extension,
                            bool sync_directory) const {
  const fs::path final_path = path_for(task_id, extension);
  if (temp.parent_path() != root_ / kPartialDir ||
      temp.filename().string().rfind(temp_prefix(checked_id(task_id)), 0) != 0)
    throw std::invalid_argument("image store: " + temp.string() + " is not a temp file of this task");
  // The rename is durable only once the directory entry is: the task is marked
  // done right after this, so a crash must not lose the file's final name.
  if (const auto ec = files::durable_rename(temp, final_path,
                                            sync_directory ? files::DirectorySync::now : files::DirectorySync::later))
    throw fs::filesystem_error("image store: cannot commit", temp, final_path, ec);
  return final_path;
}

void ImageStore::sync() const { (void)files::sync_path(root_, true); }

std::size_t ImageStore::sweep_partial(std::chrono::seconds max_age) const {
  std::size_t removed = 0;
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(root_ / kPartialDir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code st;
    if (!it->is_regular_file(st)) continue;
    const auto written = it->last_write_time(st);
    if (st || now - written < max_age) continue;
    removed += fs::remove(it->path(), st) ? 1 : 0;
  }
  return removed;
}

std::optional<std::string> ImageStore::write_problem() const {
  const fs::path dir = root_ / kPartialDir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return "cannot create " + dir.string() + ": " + ec.message();
  const fs::path probe = files::unique_name(dir, ".probe-", "");
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot create a file in " + dir.string() + ": " + std::generic_category().message(errno);
  const char byte = 0;
  const bool wrote = ::write(fd, &byte, 1) == 1;
  const int write_errno = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (!wrote) return "cannot write in " + dir.string() + ": " + std::generic_category().message(write_errno);
  return std::nullopt;
}

bool ImageStore::exists(std::string_view task_id, std::string_view extension) const {
  std::error_code ec;
  return fs::is_regular_file(path_for(task_id, extension), ec);
}

std::optional<std::uintmax_t> ImageStore::size(std::string_view task_id, std::string_view extension) const {
  std::error_code ec;
  const auto n = fs::file_size(path_for(task_id, extension), ec);
  if (ec) return std::nullopt;
  return n;
}

std::size_t ImageStore::remove(std::string_view task_id) const {
  const std::string id = checked_id(task_id);
  std::size_t removed = 0;
  std::error_code ec;
  for (std::string_view ext : kFormats) removed += fs::remove(root_ / (id + "." + std::string(ext)), ec) ? 1 : 0;
  // Temp files of an interrupted write.
  const std::string prefix = temp_prefix(id);
  for (fs::directory_iterator it(root_ / kPartialDir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      std::error_code rm;
      removed += fs::remove(it->path(), rm) ? 1 : 0;
    }
  }
  return removed;
}

}  // namespace fractal::storage
