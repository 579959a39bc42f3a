// Internal: libsodium must be initialized once before use (it picks the
// fastest implementations and seeds randombytes). Thread-safe, idempotent;
// throws std::runtime_error if libsodium cannot initialize.
#pragma once

namespace fractal::auth::detail {

void ensure_sodium();

}  // namespace fractal::auth::detail
