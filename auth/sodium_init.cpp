#include "auth/sodium_init.h"

#include <sodium.h>

#include <mutex>
#include <stdexcept>

namespace fractal::auth::detail {

void ensure_sodium() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = sodium_init() >= 0; });  // 1 = already initialized: fine
  if (!ok) throw std::runtime_error("libsodium could not be initialized");
}

}  // namespace fractal::auth::detail
