// Bearer token check for authenticated routes: 401 with
// `WWW-Authenticate: Bearer` for a missing, malformed, expired, revoked,
// wrongly signed or alg-swapped token (auth::Authenticator decides); the
// revocation store being down is a 503, not a 401.
#pragma once

#include "auth/authenticator.h"
#include "server/http_io.h"

namespace fractal::server {

class BearerAuth {
 public:
  explicit BearerAuth(const auth::Authenticator& authenticator) : authenticator_(authenticator) {}

  // The caller's verified claims, or throws ApiError 401.
  [[nodiscard]] auth::Claims require(const RequestContext& ctx) const;

 private:
  const auth::Authenticator& authenticator_;
};

}  // namespace fractal::server
