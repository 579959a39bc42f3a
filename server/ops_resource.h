// GET /livez, GET /readyz, GET /metrics: always served, whatever --routes says.
#pragma once

#include "server/http_metrics.h"
#include "server/router.h"
#include "server/services.h"

namespace fractal::server {

class OpsResource {
 public:
  OpsResource(Services& services, const HttpMetrics& metrics) : s_(services), metrics_(metrics) {}
  void setup_routes(Router& router);

 private:
  Reply livez(RequestContext& ctx);
  Reply readyz(RequestContext& ctx);
  Reply metrics(RequestContext& ctx);

  Services& s_;
  const HttpMetrics& metrics_;
};

}  // namespace fractal::server
