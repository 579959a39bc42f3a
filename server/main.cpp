// fractal-server: the HTTP API (docs/api.md). Options: --help.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>

#include "auth/secret.h"
#include "runtime/logging.h"
#include "runtime/shutdown_signals.h"
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
  runtime::setup_logging(options.log_level);

  auth::SecretResult secret =
      auth::load_signing_key(options.dev ? auth::SecretMode::development : auth::SecretMode::production);
  if (!secret.ok()) {
    std::cerr << "fractal-server: " << secret.error << " (--dev makes a throw-away key for development)\n";
    return 2;
  }
  if (!secret.warning.empty()) spdlog::warn("event=jwt_secret warning={}", runtime::log_value(secret.warning));
  spdlog::info("event=jwt_secret source={}", runtime::log_value(secret.source));
  options.signing_key = std::move(secret.key);

  // SIGTERM/SIGINT go to runtime::ShutdownSignals' thread: blocked before
  // any thread starts so every thread inherits the mask.
  runtime::ShutdownSignals::block();

  std::unique_ptr<server::Server> srv;
  try {
    srv = std::make_unique<server::Server>(std::move(options));
  } catch (const std::exception& e) {
    spdlog::critical("event=fatal error={}", runtime::log_value(e.what()));
    return 1;
  }
  // A signal may come at any time, also while start() still waits for
  // Postgres or Redis: it starts the shutdown (start() then gives up).
  runtime::ShutdownSignals signals([&](int) { srv->begin_shutdown(); });

  try {
    srv->start();
  } catch (const server::StartupCanceled&) {
    spdlog::info("event=startup_canceled");
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("event=fatal error={}", runtime::log_value(e.what()));
    return 1;
  }
  signals.wait();
  srv->shutdown();
  srv.reset();
  return 0;
}
