#include "runtime/shutdown_signals.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <ctime>

namespace fractal::runtime {
namespace {

sigset_t shutdown_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void ShutdownSignals::block() {
  const sigset_t set = shutdown_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

const char* ShutdownSignals::name(int signal) {
  return signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "other";
}

ShutdownSignals::ShutdownSignals(std::function<void(int)> on_signal)
    : on_signal_(std::move(on_signal)), thread_([this] { watch(); }) {}

ShutdownSignals::~ShutdownSignals() {
  done_ = true;
  thread_.join();
}

int ShutdownSignals::wait() {
  std::unique_lock lock(mutex_);
  handled_.wait(lock, [&] { return handled_done_; });
  return first_;
}

int ShutdownSignals::received() const {
  std::lock_guard lock(mutex_);
  return first_;
}

void ShutdownSignals::watch() {
  const sigset_t set = shutdown_set();
  while (!done_.load()) {
    const timespec poll{0, 200'000'000};  // how soon the destructor is noticed
    const int sig = sigtimedwait(&set, nullptr, &poll);
    if (sig <= 0) continue;
    bool first;
    {
      std::lock_guard lock(mutex_);
      first = first_ == 0;
      if (first) first_ = sig;
    }
    if (first) {
      spdlog::info("event=signal signal={} action=shutdown", name(sig));
      if (on_signal_) on_signal_(sig);
      {
        std::lock_guard lock(mutex_);
        handled_done_ = true;
      }
      handled_.notify_all();
    } else {
      spdlog::warn("event=signal signal={} action=exit_now", name(sig));
      spdlog::default_logger()->flush();
      std::_Exit(1);
    }
  }
}

}  // namespace fractal::runtime
