#pragma once

#include <cstdint>

namespace fractal::test {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read the
// port, close). Another process can take it before the caller binds it, so
// servers started on it must retry with a new port when the bind fails
// (TempPostgres and TempRedis do).
std::uint16_t free_tcp_port();

}  // namespace fractal::test
