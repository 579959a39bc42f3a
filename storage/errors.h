// Exceptions of the storage layer. Expected outcomes (a taken username, an
// exceeded quota, a task that is not there) are return values, not exceptions.
#pragma once

#include <stdexcept>
#include <string>

namespace fractal::storage {

class StorageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Postgres or Redis cannot be reached (down, restarting, pool exhausted, or the
// outcome of a commit is unknown because the connection died). Callers answer
// 503 and may retry; `service()` is "postgres" or "redis".
class StorageUnavailable : public StorageError {
 public:
  StorageUnavailable(std::string service, const std::string& message)
      : StorageError(service + " unavailable: " + message), service_(std::move(service)) {}
  const std::string& service() const noexcept { return service_; }

 private:
  std::string service_;
};

// Redis answered a command with an error reply (a bug or a misconfiguration,
// e.g. WRONGTYPE): not retried.
class RedisError : public StorageError {
 public:
  using StorageError::StorageError;
};

}  // namespace fractal::storage
