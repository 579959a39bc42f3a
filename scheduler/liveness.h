// Worker liveness for probes: the worker's claim keeper writes, every
// heartbeat interval, a small file holding the time its stages last made
// progress (a turn of the intake loop, a render advancing, a group encoded).
// `fractal-worker --check` reads it and fails when that time is older than
// the allowed age: a worker that is alive but stuck (a deadlock, a hung
// device call) is restarted by its liveness probe, while a worker waiting out
// a Postgres or Redis outage keeps turning its loop and stays alive.
//
// File: one line, "worker=<name> last_progress_ms=<unix ms> written_ms=<unix ms>".
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace fractal::scheduler {

// Writes the file atomically (temp + rename). False with `error` set on failure.
bool write_liveness(const std::filesystem::path& file, const std::string& worker,
                    std::chrono::system_clock::time_point last_progress, std::string* error);

struct LivenessCheck {
  bool ok = false;
  std::string message;  // one line for the probe's output
};

// ok when the file exists, parses, and its progress time is within max_age of now.
LivenessCheck check_liveness(const std::filesystem::path& file, std::chrono::seconds max_age,
                             std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace fractal::scheduler
