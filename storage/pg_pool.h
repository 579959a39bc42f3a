// A small thread-safe pool of libpqxx connections.
//
//   PgPool pool({.conninfo = "host=... dbname=fractal", .size = 8});
//   int n = pool.transact([&](pqxx::work& tx) {
//     return tx.exec_params1("SELECT count(*) FROM tasks WHERE owner = $1", owner)[0].as<int>();
//   });
//
// Connections are opened lazily and reopened on the next borrow once broken,
// so a pool outlives Postgres restarts. Failures to reach Postgres (down,
// restarting, no free connection within `acquire_timeout`) surface as
// StorageUnavailable after a bounded wait, never as a hang.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include <pqxx/pqxx>

#include "storage/errors.h"

namespace fractal::storage {

struct PgPoolOptions {
  std::string conninfo;                               // libpq key=value string or postgresql:// URI
  std::size_t size = 4;                               // at most this many connections
  std::chrono::milliseconds acquire_timeout{2000};    // wait for a free connection
  std::chrono::seconds connect_timeout{3};            // added unless conninfo names connect_timeout
  std::chrono::milliseconds statement_timeout{0};     // per session; 0 keeps the server's default
};

class PgPool {
 public:
  explicit PgPool(PgPoolOptions options);
  PgPool(std::string conninfo, std::size_t size);
  ~PgPool();  // all leases must have been returned
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Exclusive use of one open connection until destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    pqxx::connection& operator*() const noexcept { return *conn_; }
    pqxx::connection* operator->() const noexcept { return conn_.get(); }
    // The connection is broken or in an unknown state: close it instead of
    // returning it to the pool.
    void discard() noexcept { discard_ = true; }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::size_t slot, std::unique_ptr<pqxx::connection> conn) noexcept
        : pool_(pool), slot_(slot), conn_(std::move(conn)) {}
    void release() noexcept;

    PgPool* pool_ = nullptr;
    std::size_t slot_ = 0;
    std::unique_ptr<pqxx::connection> conn_;
    bool discard_ = false;
  };

  // Borrows a connection, opening one if needed. Throws StorageUnavailable when
  // none is free within acquire_timeout or Postgres cannot be reached.
  [[nodiscard]] Lease acquire();

  // Runs f(pqxx::work&) in a transaction on a pooled connection and commits.
  // A connection that turns out broken before the commit is replaced and f runs
  // once more (f must only touch the database: it may run twice). Connection
  // failures become StorageUnavailable (also when the COMMIT's outcome is
  // unknown); SQL errors and f's own exceptions pass through unchanged.
  template <class F>
  auto transact(F&& f) -> std::invoke_result_t<F&, pqxx::work&>;

  // SELECT 1 on a pooled connection; for readiness checks. Never throws.
  bool ping() noexcept;

  std::size_t size() const noexcept { return options_.size; }
  std::size_t open_connections() const;

 private:
  std::unique_ptr<pqxx::connection> connect();
  void give_back(std::size_t slot, std::unique_ptr<pqxx::connection> conn) noexcept;
  // After one connection broke, the idle ones most likely did too (restart).
  void close_idle() noexcept;

  PgPoolOptions options_;
  std::string conninfo_;  // with defaults added
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // by slot; null: not connected
  std::vector<std::size_t> free_slots_;                  // LIFO: warm connections first
};

namespace detail {
enum class PgFailure { connection, in_doubt, other };
PgFailure classify_pg_failure(const std::exception_ptr& error) noexcept;
[[noreturn]] void rethrow_pg_failure(const std::exception_ptr& error);
}  // namespace detail

template <class F>
auto PgPool::transact(F&& f) -> std::invoke_result_t<F&, pqxx::work&> {
  using Result = std::invoke_result_t<F&, pqxx::work&>;
  for (int attempt = 1;; ++attempt) {
    Lease lease = acquire();
    try {
      pqxx::work tx(*lease);
      if constexpr (std::is_void_v<Result>) {
        f(tx);
        tx.commit();
        return;
      } else {
        Result result = f(tx);
        tx.commit();
        return result;
      }
    } catch (...) {
      const std::exception_ptr error = std::current_exception();
      const detail::PgFailure kind = detail::classify_pg_failure(error);
      if (kind != detail::PgFailure::other) {
        lease.discard();
        close_idle();
      }
      if (kind == detail::PgFailure::connection && attempt == 1) continue;
      detail::rethrow_pg_failure(error);
    }
  }
}

}  // namespace fractal::storage
