// POST /add (one task, or {"tasks": [...]}), POST /tasks/<id>/cancel,
// POST /delete, DELETE /tasks/<id>, GET /tasks, GET /tasks/<id>, GET /stats,
// GET /palettes.
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
  // The answer to a submission once its group committed (on a waiter thread).
  Reply added(const storage::SubmissionResult& result, bool batch, std::size_t count, const std::string& user_id);
  Reply cancel(RequestContext& ctx);
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
