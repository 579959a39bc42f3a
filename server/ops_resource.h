// GET /livez, GET /readyz, GET /metrics, GET /openapi.json: always served,
// whatever --routes says.
#pragma once

#include <string>

#include "server/http_metrics.h"
#include "server/router.h"
#include "server/services.h"

namespace fractal::server {

class OpsResource {
 public:
  OpsResource(Services& services, const HttpMetrics& metrics) : s_(services), metrics_(metrics) {}
  void setup_routes(Router& router);
  // GET /openapi.json, documenting exactly the routes registered so far (call
  // it last); throws std::logic_error for a route the document lacks.
  void setup_openapi(Router& router, bool web_client);

 private:
  Reply livez(RequestContext& ctx);
  Reply readyz(RequestContext& ctx);
  Reply metrics(RequestContext& ctx);
  Reply openapi(RequestContext& ctx);

  Services& s_;
  const HttpMetrics& metrics_;
  std::string openapi_;  // the serialized document
};

}  // namespace fractal::server
