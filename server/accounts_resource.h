// POST /sign-up, GET /sign-in (HTTP Basic), POST /sign-in, POST /sign-out.
#pragma once

#include "server/router.h"
#include "server/services.h"

namespace fractal::server {

class AccountsResource {
 public:
  explicit AccountsResource(Services& services) : s_(services) {}
  void setup_routes(Router& router);

 private:
  Reply sign_up(RequestContext& ctx);
  Reply sign_in_basic(RequestContext& ctx);
  Reply sign_in_json(RequestContext& ctx);
  Reply sign_out(RequestContext& ctx);

  // Which challenge a failed sign-in's 401 carries: Basic for GET /sign-in
  // (the HTTP Basic flow), none for the JSON sign-in.
  enum class Challenge { basic, none };
  // Lockout check, user lookup, password (or dummy) verification, token.
  Reply sign_in(const std::string& username, const std::string& password, Challenge challenge);

  Services& s_;
};

}  // namespace fractal::server
