// GET /download?id=<id>: the rendered file, streamed with sendfile.
#pragma once

#include "server/router.h"
#include "server/services.h"

namespace fractal::server {

class ImagesResource {
 public:
  explicit ImagesResource(Services& services) : s_(services) {}
  void setup_routes(Router& router);

 private:
  Reply download(RequestContext& ctx);

  Services& s_;
};

}  // namespace fractal::server
