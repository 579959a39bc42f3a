// A real, throw-away Postgres server for integration tests.
//
//   fractal::test::TempPostgres pg;             // ~0.3 s with a warm template, ~1 s cold
//   pqxx::connection c(pg.conninfo());          // host=127.0.0.1 port=N user=postgres dbname=fractal
//
// The cluster lives in a fresh temp dir, listens on 127.0.0.1 on a free port,
// trusts every local connection, runs with fsync off, and is removed by the
// destructor. initdb runs once per machine into a cached template
// (<temp root>/fractal-pg-template-*, see scratch_dir.h) that later instances copy; set
// FRACTAL_TEST_PG_NO_TEMPLATE=1 to run initdb every time. Binaries come from
// $FRACTAL_PG_BINDIR, else the newest /usr/lib/postgresql/<v>/bin, else PATH.
// As root the server runs as the `postgres` user (Postgres refuses root).
// The server dies with the thread that created the object (PR_SET_PDEATHSIG),
// so create it on a thread that outlives it (main, or a gtest Environment).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/child_process.h"

namespace fractal::test {

class TempPostgres {
 public:
  struct Options {
    std::string database = "fractal";     // created at start-up
    std::vector<std::string> settings;    // extra server settings, "name=value"
    std::chrono::seconds start_timeout{30};
  };

  TempPostgres();
  explicit TempPostgres(Options options);
  ~TempPostgres();
  TempPostgres(const TempPostgres&) = delete;
  TempPostgres& operator=(const TempPostgres&) = delete;

  // "host=127.0.0.1 port=N user=postgres dbname=<database>"
  std::string conninfo() const;
  std::string conninfo_for(std::string_view database) const;
  // CREATE DATABASE <name>; returns its conninfo. For tests that need an empty database.
  std::string create_database(std::string_view name);

  std::uint16_t port() const noexcept { return port_; }
  const std::filesystem::path& dir() const noexcept { return dir_; }
  bool running();

  // Fast shutdown (clients are disconnected, checkpoint); returns once the server is gone.
  void stop();
  // Immediate shutdown (SIGQUIT): no checkpoint, crash recovery on the next start.
  void crash();
  // Starts again on the same port and data dir; waits until it accepts connections.
  // Throws if the port was taken meanwhile.
  void start();

  std::string log_tail(std::size_t max_bytes = 4000) const;

 private:
  void init_cluster();
  bool launch(std::string* failure);  // false: failed (reason in *failure)
  void create_database_sql(std::string_view name);

  Options options_;
  std::filesystem::path dir_;
  std::filesystem::path data_dir_;
  std::filesystem::path log_file_;
  std::uint16_t port_ = 0;
  std::optional<RunAs> run_as_;
  ChildProcess server_;
};

}  // namespace fractal::test
