#include "tests/support/shared_services.h"

namespace fractal::test {

TempPostgres& shared_postgres() {
  static TempPostgres instance;  // thread-safe lazy start; destroyed at exit
  return instance;
}

TempRedis& shared_redis() {
  static TempRedis instance;
  return instance;
}

}  // namespace fractal::test
