// fractal-worker: the render worker process. See scheduler/worker.h.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>

#include <spdlog/spdlog.h>

#include "scheduler/cli_options.h"
#include "scheduler/liveness.h"
#include "scheduler/log_text.h"
#include "scheduler/worker.h"

namespace {

constexpr int kExitFailure = 1;

// SIGTERM/SIGINT are blocked in every thread and taken by this one (sigtimedwait),
// so stop() runs on an ordinary thread, never inside a signal handler.
class SignalWatcher {
 public:
  explicit SignalWatcher(fractal::scheduler::Worker& worker) : thread_([this, &worker] { watch(worker); }) {}
  ~SignalWatcher() {
    done_ = true;
    thread_.join();
  }

  static void block_signals() {
    sigset_t set = signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

 private:
  static sigset_t signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
  }

  void watch(fractal::scheduler::Worker& worker) {
    const sigset_t set = signals();
    int received = 0;
    while (!done_.load()) {
      const timespec wait{0, 200'000'000};
      const int sig = sigtimedwait(&set, nullptr, &wait);
      if (sig <= 0) continue;
      if (++received == 1) {
        spdlog::info("event=signal signal={} action=drain", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        worker.stop();
      } else {
        spdlog::warn("event=signal signal={} action=exit_now", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        std::_Exit(kExitFailure);  // a second signal: the operator does not want to wait
      }
    }
  }

  std::atomic<bool> done_{false};
  std::thread thread_;
};

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

  spdlog::set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(cl.log_level));
  spdlog::flush_on(spdlog::level::info);

  SignalWatcher::block_signals();  // before any thread exists, so all inherit the mask
  try {
    Worker worker(std::move(cl.options));
    SignalWatcher watcher(worker);
    worker.run();
    return 0;
  } catch (const fractal::BackendUnavailable& e) {
    spdlog::critical("event=backend_unavailable error={}", log_value(e.what()));
  } catch (const std::exception& e) {
    spdlog::critical("event=worker_failed error={}", log_value(e.what()));
  }
  return kExitFailure;
}
