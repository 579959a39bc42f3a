// Prints the OpenAPI document of fractal-server (every route group and the
// web client) for tests/openapi/run.sh.
#include <iostream>

#include "server/openapi.h"

int main() {
  std::cout << fractal::server::openapi_document().dump(2) << '\n';
  return 0;
}
