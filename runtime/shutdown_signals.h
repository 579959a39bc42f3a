// SIGTERM/SIGINT for both binaries. The signals are blocked in every thread
// and taken by one watcher thread (sigtimedwait), so the reaction runs on an
// ordinary thread, never inside a signal handler. First signal: `on_signal`
// (begin a graceful shutdown). Second signal: the operator does not want to
// wait: the process exits at once with status 1.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace fractal::runtime {

class ShutdownSignals {
 public:
  // Blocks SIGTERM and SIGINT in the calling thread: call it in main before
  // any thread starts, so every thread inherits the mask.
  static void block();

  // Starts the watcher. `on_signal` gets the signal number, on the watcher thread.
  explicit ShutdownSignals(std::function<void(int)> on_signal);
  ~ShutdownSignals();  // stops the watcher (a later signal stays blocked and pending)
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Waits until the first signal was taken and on_signal returned; returns the signal.
  int wait();
  // The first signal taken, 0 before it.
  int received() const;

  static const char* name(int signal);  // "SIGTERM", "SIGINT"

 private:
  void watch();

  std::function<void(int)> on_signal_;
  mutable std::mutex mutex_;
  std::condition_variable handled_;
  int first_ = 0;
  bool handled_done_ = false;
  std::atomic<bool> done_{false};
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace fractal::runtime
