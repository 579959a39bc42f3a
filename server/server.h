// The API server: owns the services, the route table and the Pistache
// endpoint. Tests run it in-process:
//
//   ServerOptions o;  o.port = 0;  o.pg_conninfo = ...;  o.signing_key = SigningKey::random();
//   Server server(std::move(o));
//   std::uint16_t port = server.start();   // migrations, queue group, bind, serve
//   ...
//   server.shutdown();                     // /readyz 503, in-flight requests finish, listener closed
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>

#include "server/server_options.h"

namespace fractal::server {

struct Services;

// start() gave up because begin_shutdown() was called while it waited for
// Postgres or Redis (e.g. SIGTERM during start-up): not a failure.
class StartupCanceled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Server {
 public:
  // Throws std::invalid_argument when options.signing_key is missing or too short.
  explicit Server(ServerOptions options);
  ~Server();  // shutdown() if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Applies migrations and creates the queue group (retrying while Postgres or
  // Redis are not up yet, up to options.startup_timeout), binds and starts
  // serving on options.threads threads. Returns the bound port (the real one
  // for port 0). Throws when the services stay unreachable or the bind fails,
  // StartupCanceled when begin_shutdown() is called meanwhile.
  std::uint16_t start();

  // /readyz answers 503 from now on; requests are still served. Thread-safe;
  // also cancels a start() that is still waiting for Postgres or Redis.
  void begin_shutdown() noexcept;
  // begin_shutdown(), waits options.drain, waits for in-flight requests (at
  // most options.shutdown_timeout), then closes the listener and stops the
  // threads. Idempotent.
  void shutdown();

  [[nodiscard]] std::uint16_t port() const noexcept;
  [[nodiscard]] bool running() const noexcept;
  // Requests being handled right now.
  [[nodiscard]] int in_flight() const noexcept;
  [[nodiscard]] const ServerOptions& options() const noexcept;
  // The domain objects, for tests and tools in the same process.
  [[nodiscard]] Services& services() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fractal::server
