// POST /add, POST /delete, DELETE /tasks/<id>, GET /tasks, GET /tasks/<id>,
// GET /stats, GET /palettes.
#pragma once

#include <string_view>

#include "server/router.h"
#include "server/services.h"

namespace fractal::server {

inline constexpr int kDefaultListLimit = 50;
inline constexpr int kMaxListLimit = 500;
inline constexpr std::size_t kMaxIdempotencyKey = 255;

class TasksResource {
 public:
  explicit TasksResource(Services& services) : s_(services) {}
  void setup_routes(Router& router);

 private:
  Reply add(RequestContext& ctx);
  Reply delete_by_body(RequestContext& ctx);
  Reply delete_by_path(RequestContext& ctx);
  Reply list(RequestContext& ctx);
  Reply get(RequestContext& ctx);
  Reply stats(RequestContext& ctx);
  Reply palettes(RequestContext& ctx);

  Reply remove(const auth::Claims& user, std::string_view id);

  Services& s_;
};

}  // namespace fractal::server
