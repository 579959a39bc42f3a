// fractal-worker: the render worker process. See scheduler/worker.h.
#include <cstdio>

#include <spdlog/spdlog.h>

#include "runtime/logging.h"
#include "runtime/shutdown_signals.h"
#include "scheduler/cli_options.h"
#include "scheduler/liveness.h"
#include "scheduler/worker.h"

namespace {

constexpr int kExitFailure = 1;

}  // namespace

int main(int argc, char** argv) {
  using namespace fractal::scheduler;
  CommandLine cl = parse_command_line(argc, argv);
  if (cl.exit_code) {
    std::fputs(cl.message.c_str(), *cl.exit_code == 0 ? stdout : stderr);
    return *cl.exit_code;
  }

  if (cl.check) {
    const LivenessCheck result = check_liveness(cl.options.health_file, cl.check_max_age);
    std::fputs((result.message + "\n").c_str(), result.ok ? stdout : stderr);
    return result.ok ? 0 : kExitFailure;
  }

  fractal::runtime::setup_logging(cl.log_level);

  // SIGTERM/SIGINT: stop reading, drain, exit 0; a second one exits at once.
  fractal::runtime::ShutdownSignals::block();  // before any thread exists, so all inherit the mask
  try {
    Worker worker(std::move(cl.options));
    fractal::runtime::ShutdownSignals signals([&worker](int) { worker.stop(); });
    worker.run();
    return 0;
  } catch (const fractal::BackendUnavailable& e) {
    spdlog::critical("event=backend_unavailable error={}", fractal::runtime::log_value(e.what()));
  } catch (const std::exception& e) {
    spdlog::critical("event=worker_failed error={}", fractal::runtime::log_value(e.what()));
  }
  return kExitFailure;
}
