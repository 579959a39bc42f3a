// fractal-server: the HTTP API (docs/api.md). Options: --help.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "auth/secret.h"
#include "server/logging.h"
#include "server/server.h"

int main(int argc, char** argv) {
  using namespace fractal;
  server::ServerOptions options;
  server::CliValues values;
  CLI::App app{"fractal-server: the fractal render service's HTTP API (reference: docs/api.md)", "fractal-server"};
  server::add_cli_options(app, options, values);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // usage errors: 2, like the other tools
  }
  if (std::string error = server::finish_options(options, values); !error.empty()) {
    std::cerr << "fractal-server: " << error << "\n";
    return 2;
  }
  server::setup_logging(options.log_level);

  auth::SecretResult secret =
      auth::load_signing_key(options.dev ? auth::SecretMode::development : auth::SecretMode::production);
  if (!secret.ok()) {
    std::cerr << "fractal-server: " << secret.error << " (--dev makes a throw-away key for development)\n";
    return 2;
  }
  if (!secret.warning.empty()) spdlog::warn("event=jwt_secret warning=\"{}\"", secret.warning);
  spdlog::info("event=jwt_secret source=\"{}\"", secret.source);
  options.signing_key = std::move(secret.key);

  // SIGTERM/SIGINT are taken by sigwait below: block them before any thread
  // starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<server::Server> srv;
  try {
    srv = std::make_unique<server::Server>(std::move(options));
  } catch (const std::exception& e) {
    spdlog::critical("event=fatal error=\"{}\"", server::log_value(e.what()));
    return 1;
  }
  // A signal may come at any time, also while start() still waits for
  // Postgres or Redis: a dedicated thread takes it and starts the shutdown.
  std::mutex mutex;
  std::condition_variable signaled_cv;
  int signal_number = 0;
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    {
      std::lock_guard lock(mutex);
      signal_number = sig;
    }
    srv->begin_shutdown();
    signaled_cv.notify_all();
  });
  const auto stop_signal_thread = [&] {
    bool pending;
    {
      std::lock_guard lock(mutex);
      pending = signal_number == 0;
    }
    if (pending) pthread_kill(signal_thread.native_handle(), SIGTERM);  // wakes its sigwait
    signal_thread.join();
  };

  try {
    srv->start();
  } catch (const server::StartupCanceled&) {
    spdlog::info("event=startup_canceled");
    stop_signal_thread();
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("event=fatal error=\"{}\"", server::log_value(e.what()));
    stop_signal_thread();
    return 1;
  }
  {
    std::unique_lock lock(mutex);
    signaled_cv.wait(lock, [&] { return signal_number != 0; });
  }
  spdlog::info("event=signal signal={}", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  srv->shutdown();
  signal_thread.join();
  srv.reset();
  return 0;
}
