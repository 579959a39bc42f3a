#include "storage/pg_pool.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>

namespace fractal::storage {
namespace {

std::string with_defaults(const std::string& conninfo, std::chrono::seconds connect_timeout) {
  if (conninfo.find("connect_timeout") != std::string::npos) return conninfo;
  const std::string value = std::to_string(std::max<long long>(connect_timeout.count(), 1));
  const bool uri = conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0;
  if (uri) return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + value;
  return conninfo + (conninfo.empty() ? "" : " ") + "connect_timeout=" + value;
}

// An idle connection whose socket is readable was closed or told something by
// the server (FATAL on shutdown, EOF): it is stale, and using it would fail.
bool looks_alive(pqxx::connection& conn) noexcept {
  if (!conn.is_open()) return false;
  const int fd = conn.sock();
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  const int r = ::poll(&p, 1, 0);
  return r == 0;  // nothing to read on an idle connection: fine
}

bool is_connection_sqlstate(const std::string& state) {
  // Class 08: connection exception; 57P01..57P03: admin/crash shutdown, cannot connect now;
  // 53300: too many connections.
  return state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03" ||
         state == "53300";
}

}  // namespace

namespace detail {

PgFailure classify_pg_failure(const std::exception_ptr& error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::in_doubt_error&) {
    return PgFailure::in_doubt;
  } catch (const pqxx::broken_connection&) {
    return PgFailure::connection;
  } catch (const pqxx::sql_error& e) {
    return is_connection_sqlstate(e.sqlstate()) ? PgFailure::connection : PgFailure::other;
  } catch (...) {
    return PgFailure::other;
  }
}

void rethrow_pg_failure(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::in_doubt_error& e) {
    throw StorageUnavailable("postgres", std::string("connection lost during COMMIT, outcome unknown: ") + e.what());
  } catch (const pqxx::broken_connection& e) {
    throw StorageUnavailable("postgres", e.what());
  } catch (const pqxx::sql_error& e) {
    if (is_connection_sqlstate(e.sqlstate())) throw StorageUnavailable("postgres", e.what());
    throw;
  }
}

}  // namespace detail

PgPool::PgPool(PgPoolOptions options) : options_(std::move(options)) {
  if (options_.size == 0) options_.size = 1;
  conninfo_ = with_defaults(options_.conninfo, options_.connect_timeout);
  idle_.resize(options_.size);
  for (std::size_t i = options_.size; i-- > 0;) free_slots_.push_back(i);
}

PgPool::PgPool(std::string conninfo, std::size_t size) : PgPool(PgPoolOptions{.conninfo = std::move(conninfo), .size = size}) {}

PgPool::~PgPool() = default;

std::unique_ptr<pqxx::connection> PgPool::connect() {
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo_);
    pqxx::nontransaction setup(*conn);
    setup.exec_params("SELECT set_config('client_min_messages', 'warning', false), "
                      "set_config('statement_timeout', $1, false)",
                      std::to_string(options_.statement_timeout.count()));
    return conn;
  } catch (const pqxx::broken_connection& e) {
    throw StorageUnavailable("postgres", e.what());
  } catch (const pqxx::sql_error& e) {
    if (is_connection_sqlstate(e.sqlstate())) throw StorageUnavailable("postgres", e.what());
    throw;
  }
}

PgPool::Lease PgPool::acquire() {
  std::size_t slot = 0;
  std::unique_ptr<pqxx::connection> conn;
  {
    std::unique_lock lock(mutex_);
    if (!available_.wait_for(lock, options_.acquire_timeout, [&] { return !free_slots_.empty(); })) {
      throw StorageUnavailable("postgres", "no free connection within " + std::to_string(options_.acquire_timeout.count()) +
                                               " ms (all " + std::to_string(options_.size) + " in use)");
    }
    slot = free_slots_.back();
    free_slots_.pop_back();
    conn = std::move(idle_[slot]);
  }
  // Connecting happens outside the lock: other threads keep borrowing meanwhile.
  try {
    if (conn && !looks_alive(*conn)) conn.reset();
    if (!conn) conn = connect();
  } catch (...) {
    give_back(slot, nullptr);
    throw;
  }
  return Lease(this, slot, std::move(conn));
}

void PgPool::give_back(std::size_t slot, std::unique_ptr<pqxx::connection> conn) noexcept {
  std::unique_ptr<pqxx::connection> closing;  // closed outside the lock
  {
    std::lock_guard lock(mutex_);
    if (conn && !conn->is_open()) closing = std::move(conn);
    idle_[slot] = std::move(conn);
    // Open connections go on top of the stack, empty slots at the bottom.
    if (idle_[slot]) free_slots_.push_back(slot);
    else free_slots_.insert(free_slots_.begin(), slot);
  }
  available_.notify_one();
}

void PgPool::close_idle() noexcept {
  std::vector<std::unique_ptr<pqxx::connection>> closing;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t slot : free_slots_) {
      if (idle_[slot]) closing.push_back(std::move(idle_[slot]));
    }
  }
}

bool PgPool::ping() noexcept {
  try {
    return transact([](pqxx::work& tx) { return tx.exec("SELECT 1")[0][0].as<int>() == 1; });
  } catch (...) {
    return false;
  }
}

std::size_t PgPool::open_connections() const {
  std::lock_guard lock(mutex_);
  std::size_t idle_open = 0;
  for (std::size_t slot : free_slots_) idle_open += idle_[slot] ? 1 : 0;
  return idle_open + (options_.size - free_slots_.size());
}

PgPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), slot_(other.slot_), conn_(std::move(other.conn_)), discard_(other.discard_) {
  other.pool_ = nullptr;
}

PgPool::Lease& PgPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = other.pool_;
    slot_ = other.slot_;
    conn_ = std::move(other.conn_);
    discard_ = other.discard_;
    other.pool_ = nullptr;
  }
  return *this;
}

PgPool::Lease::~Lease() { release(); }

void PgPool::Lease::release() noexcept {
  if (pool_ == nullptr) return;
  if (discard_) conn_.reset();
  pool_->give_back(slot_, std::move(conn_));
  pool_ = nullptr;
}

}  // namespace fractal::storage
