#include "tests/support/temp_postgres.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/free_port.h"
#include "tests/support/scratch_dir.h"

namespace fractal::test {
namespace fs = std::filesystem;
namespace {

constexpr int kPortAttempts = 6;

fs::path pg_bin_dir() {
  if (const char* env = std::getenv("FRACTAL_PG_BINDIR"); env && *env) return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  for (fs::directory_iterator it("/usr/lib/postgresql", ec), end; !ec && it != end; it.increment(ec)) {
    if (fs::exists(it->path() / "bin" / "postgres")) candidates.push_back(it->path() / "bin");
  }
  if (candidates.empty()) return {};  // rely on PATH
  // Newest major version: compare numerically ("9.6" < "15").
  std::sort(candidates.begin(), candidates.end(), [](const fs::path& a, const fs::path& b) {
    return std::atof(a.parent_path().filename().c_str()) < std::atof(b.parent_path().filename().c_str());
  });
  return candidates.back();
}

std::string pg_program(const char* name) {
  static const fs::path dir = pg_bin_dir();
  return dir.empty() ? std::string(name) : (dir / name).string();
}

std::optional<RunAs> postgres_user_if_root() {
  if (geteuid() != 0) return std::nullopt;
  const passwd* pw = getpwnam("postgres");  // once, from the constructor's thread
  if (pw == nullptr)
    throw std::runtime_error("TempPostgres: running as root needs a `postgres` user (Postgres refuses to run as root)");
  return RunAs{pw->pw_uid, pw->pw_gid};
}

void chown_tree(const fs::path& root, const RunAs& who) {
  if (lchown(root.c_str(), who.uid, who.gid) != 0)
    throw std::runtime_error("chown " + root.string() + ": " + strerror(errno));
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (lchown(entry.path().c_str(), who.uid, who.gid) != 0)
      throw std::runtime_error("chown " + entry.path().string() + ": " + strerror(errno));
  }
}

std::vector<std::string> initdb_argv(const fs::path& data_dir) {
  return {pg_program("initdb"), "-D", data_dir.string(), "-U", "postgres", "-A", "trust",
          "-E", "UTF8", "--locale=C", "--no-sync",
          "--wal-segsize=1"};  // 1 MB instead of 16 MB of WAL to copy per instance
}

void run_initdb(const fs::path& data_dir, const fs::path& log, const std::optional<RunAs>& run_as) {
  SpawnOptions spawn;
  spawn.argv = initdb_argv(data_dir);
  spawn.log_file = log;
  spawn.cwd = data_dir.parent_path();
  spawn.run_as = run_as;
  spawn.parent_death_signal = SIGKILL;
  const int status = run_to_completion(spawn, std::chrono::seconds(120));
  if (!exited_ok(status))
    throw std::runtime_error("initdb failed (" + describe_wait_status(status) + "):\n" + file_tail(log));
}

// initdb costs ~0.6 s of CPU; copying its output costs ~0.05 s. The template is
// built once per (binaries, options, uid) under an flock, then published with
// an atomic rename; readers only trust a template holding the `ready` marker.
bool copy_from_template(const fs::path& data_dir, const std::optional<RunAs>& run_as) {
  if (const char* off = std::getenv("FRACTAL_TEST_PG_NO_TEMPLATE"); off && *off && std::string(off) != "0")
    return false;
  std::string key = pg_program("initdb");
  for (const auto& a : initdb_argv("")) key += ' ' + a;
  std::ostringstream name;
  name << "fractal-pg-template-" << std::hex << std::hash<std::string>{}(key) << std::dec << "-u" << geteuid();
  const fs::path root = temp_root();
  const fs::path tmpl = root / name.str();

  if (!fs::exists(tmpl / "ready")) {
    const fs::path lock_path = root / (name.str() + ".lock");
    const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) return false;
    std::unique_ptr<int, void (*)(int*)> lock_guard(new int(lock_fd), [](int* fd) {
      flock(*fd, LOCK_UN);
      close(*fd);
      delete fd;
    });
    if (flock(lock_fd, LOCK_EX) != 0) return false;
    if (!fs::exists(tmpl / "ready")) {
      const fs::path build = root / (name.str() + ".build-" + std::to_string(getpid()));
      remove_tree(build);
      remove_tree(tmpl);
      fs::create_directories(build);
      fs::permissions(build, fs::perms::owner_all);
      if (run_as) chown_tree(build, *run_as);
      run_initdb(build / "data", build / "initdb.log", run_as);
      std::ofstream(build / "ready") << "ok\n";
      fs::rename(build, tmpl);
    }
  }
  std::error_code ec;
  fs::copy(tmpl / "data", data_dir, fs::copy_options::recursive, ec);
  if (ec) {  // template vanished or is broken: caller falls back to initdb
    remove_tree(data_dir);
    return false;
  }
  fs::permissions(data_dir, fs::perms::owner_all);
  if (run_as) chown_tree(data_dir, *run_as);
  return true;
}

// Line 8 of postmaster.pid is the postmaster's status; "ready" once it accepts
// connections (what `pg_ctl -w` waits for).
bool pid_file_says_ready(const fs::path& data_dir) {
  std::ifstream in(data_dir / "postmaster.pid");
  std::string line;
  for (int i = 0; i < 8 && std::getline(in, line); ++i) {
  }
  return line.rfind("ready", 0) == 0;
}

struct PgConnCloser {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};

}  // namespace

TempPostgres::TempPostgres() : TempPostgres(Options{}) {}

TempPostgres::TempPostgres(Options options) : options_(std::move(options)) {
  run_as_ = postgres_user_if_root();
  dir_ = make_scratch_dir("pg");
  try {
    data_dir_ = dir_ / "data";
    log_file_ = dir_ / "postgres.log";
    if (run_as_) chown_tree(dir_, *run_as_);  // the socket dir (dir_) must belong to the server's user
    init_cluster();
    std::string failure;
    bool started = false;
    for (int attempt = 0; attempt < kPortAttempts && !started; ++attempt) {
      port_ = free_tcp_port();
      started = launch(&failure);
      // Only a port lost to another process is worth another try.
      if (!started && failure.find("Address already in use") == std::string::npos) break;
    }
    if (!started) throw std::runtime_error("TempPostgres: server did not start: " + failure);
    if (!options_.database.empty()) create_database_sql(options_.database);
  } catch (...) {
    server_.stop(SIGKILL, std::chrono::milliseconds(0));
    remove_tree(dir_);
    throw;
  }
}

TempPostgres::~TempPostgres() {
  server_.stop(SIGQUIT, std::chrono::seconds(10));  // immediate: nothing to keep
  remove_tree(dir_);
}

void TempPostgres::init_cluster() {
  if (copy_from_template(data_dir_, run_as_)) return;
  run_initdb(data_dir_, dir_ / "initdb.log", run_as_);
}

bool TempPostgres::launch(std::string* failure) {
  SpawnOptions spawn;
  spawn.argv = {pg_program("postgres"),
                "-D", data_dir_.string(),
                "-p", std::to_string(port_),
                "-k", dir_.string(),
                "-c", "listen_addresses=127.0.0.1",
                // fsync off is the speed-up; commits still reach the OS before
                // they return, so crash() loses nothing (synchronous_commit=off would).
                "-c", "fsync=off",
                "-c", "full_page_writes=off",
                "-c", "shared_buffers=32MB",
                "-c", "max_connections=100"};
  for (const auto& s : options_.settings) {
    spawn.argv.push_back("-c");
    spawn.argv.push_back(s);
  }
  spawn.log_file = log_file_;
  spawn.cwd = dir_;
  spawn.run_as = run_as_;
  spawn.parent_death_signal = SIGQUIT;  // immediate shutdown if the test process dies
  const auto log_offset = fs::exists(log_file_) ? fs::file_size(log_file_) : 0;
  server_ = ChildProcess::spawn(spawn);

  const std::string ping = "host=127.0.0.1 port=" + std::to_string(port_) +
                           " user=postgres dbname=postgres connect_timeout=2";
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto pause = std::chrono::milliseconds(2);
  while (true) {
    if (!server_.running()) {
      std::string log = file_tail(log_file_, 8000);
      const auto new_bytes = fs::exists(log_file_) ? fs::file_size(log_file_) - log_offset : 0;
      if (new_bytes < log.size()) log = log.substr(log.size() - new_bytes);
      *failure = "postgres exited (" + describe_wait_status(server_.exit_status().value_or(0)) + "):\n" + log;
      return false;
    }
    if (pid_file_says_ready(data_dir_) && PQping(ping.c_str()) == PQPING_OK) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      server_.stop(SIGQUIT, std::chrono::seconds(5));
      *failure = "not ready within " + std::to_string(options_.start_timeout.count()) + " s:\n" + file_tail(log_file_);
      return false;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

void TempPostgres::create_database_sql(std::string_view name) {
  std::unique_ptr<PGconn, PgConnCloser> conn(PQconnectdb(conninfo_for("postgres").c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK)
    throw std::runtime_error(std::string("TempPostgres: connect: ") + PQerrorMessage(conn.get()));
  const std::string n(name);
  char* quoted = PQescapeIdentifier(conn.get(), n.c_str(), n.size());
  if (quoted == nullptr) throw std::runtime_error(std::string("TempPostgres: ") + PQerrorMessage(conn.get()));
  const std::string sql = std::string("CREATE DATABASE ") + quoted;
  PQfreemem(quoted);
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(conn.get(), sql.c_str()), PQclear);
  if (PQresultStatus(res.get()) != PGRES_COMMAND_OK)
    throw std::runtime_error("TempPostgres: " + sql + ": " + PQresultErrorMessage(res.get()));
}

std::string TempPostgres::conninfo() const { return conninfo_for(options_.database); }

std::string TempPostgres::conninfo_for(std::string_view database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + std::string(database);
}

std::string TempPostgres::create_database(std::string_view name) {
  create_database_sql(name);
  return conninfo_for(name);
}

bool TempPostgres::running() { return server_.running(); }

void TempPostgres::stop() { server_.stop(SIGINT, std::chrono::seconds(30)); }

void TempPostgres::crash() { server_.stop(SIGQUIT, std::chrono::seconds(10)); }

void TempPostgres::start() {
  if (server_.running()) return;
  std::string failure;
  if (!launch(&failure)) throw std::runtime_error("TempPostgres: restart on port " + std::to_string(port_) + " failed: " + failure);
}

std::string TempPostgres::log_tail(std::size_t max_bytes) const { return file_tail(log_file_, max_bytes); }

}  // namespace fractal::test
