// fractal-worker's command line: every WorkerOptions field as a flag with an
// environment variable fallback (flags win), listed by --help.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "scheduler/worker_options.h"

namespace fractal::scheduler {

struct CommandLine {
  WorkerOptions options;
  std::string log_level = "info";  // trace, debug, info, warn, error
  // --check: only read the liveness file (options.health_file) and exit 0
  // (healthy) or 1 (stale or missing); the other options are not needed.
  bool check = false;
  std::chrono::seconds check_max_age{120};
  std::optional<int> exit_code;    // set when the program should exit now (--help, bad input)
  std::string message;             // what to print then (help text or the error)
};

// Parses argv and the environment. Never throws.
[[nodiscard]] CommandLine parse_command_line(int argc, const char* const* argv);

}  // namespace fractal::scheduler
