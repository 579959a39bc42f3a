#include "scheduler/liveness.h"

#include "runtime/durable_file.h"

#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <system_error>

namespace fractal::scheduler {
namespace {

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// The integer after "<key>=" in `line`.
bool field(const std::string& line, std::string_view key, std::int64_t& out) {
  const std::string needle = std::string(key) + "=";
  std::size_t at = line.find(needle);
  while (at != std::string::npos && at > 0 && line[at - 1] != ' ') at = line.find(needle, at + 1);
  if (at == std::string::npos) return false;
  const char* begin = line.data() + at + needle.size();
  const char* end = line.data() + line.size();
  const auto [ptr, ec] = std::from_chars(begin, end, out);
  return ec == std::errc() && ptr != begin && (ptr == end || *ptr == ' ' || *ptr == '\n');
}

}  // namespace

bool write_liveness(const std::filesystem::path& file, const std::string& worker,
                    std::chrono::system_clock::time_point last_progress, std::string* error) {
  std::ostringstream line;
  line << "worker=" << worker << " last_progress_ms=" << unix_ms(last_progress)
       << " written_ms=" << unix_ms(std::chrono::system_clock::now()) << "\n";
  // A beat needs no durability: after a crash the next beat replaces it.
  std::string failed = files::write_file_atomically(file, line.str(), files::DirectorySync::none);
  if (failed.empty()) return true;
  if (error) *error = std::move(failed);
  return false;
}

LivenessCheck check_liveness(const std::filesystem::path& file, std::chrono::seconds max_age,
                             std::chrono::system_clock::time_point now) {
  std::ifstream in(file);
  if (!in) return {false, "unhealthy: no liveness file " + file.string() + " (worker not started, or --health-file differs)"};
  std::string line;
  std::getline(in, line);
  std::int64_t progress = 0;
  if (!field(line, "last_progress_ms", progress))
    return {false, "unhealthy: unreadable liveness file " + file.string()};
  const std::int64_t age_ms = unix_ms(now) - progress;
  std::ostringstream msg;
  const std::string worker = line.substr(0, line.find(' '));
  if (age_ms > max_age.count() * 1000) {
    msg << "unhealthy: " << worker << " made no progress for " << age_ms / 1000 << " s (limit " << max_age.count()
        << " s)";
    return {false, msg.str()};
  }
  msg << "healthy: " << worker << " made progress " << std::max<std::int64_t>(age_ms, 0) << " ms ago";
  return {true, msg.str()};
}

}  // namespace fractal::scheduler
