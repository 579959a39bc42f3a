#include "server/bearer_auth.h"

#include <spdlog/spdlog.h>

#include "runtime/logging.h"
#include "storage/uuid.h"

namespace fractal::server {

auth::Claims BearerAuth::require(const RequestContext& ctx) const {
  const auto header = request_header(ctx.http, "Authorization");
  if (!header)
    throw ApiError(401, "unauthorized", "this endpoint needs a bearer token (Authorization: Bearer <token>)", {},
                   {{"WWW-Authenticate", "Bearer realm=\"fractal\""}});
  const HeaderList challenge = {{"WWW-Authenticate", "Bearer realm=\"fractal\", error=\"invalid_token\""}};
  const auto token = auth::parse_bearer(*header);
  if (!token) throw ApiError(401, "invalid_token", "the Authorization header is not a bearer token", {}, challenge);
  auth::VerifyResult result = authenticator_.verify(*token);  // store failures throw (503)
  if (!result.ok()) {
    spdlog::info("event=token_rejected reason={}", runtime::log_value(result.error));
    throw ApiError(401, "invalid_token", "the access token is invalid, expired or revoked", {}, challenge);
  }
  if (!storage::is_uuid(result.claims->sub))  // signed by us, so only a key shared with another issuer gets here
    throw ApiError(401, "invalid_token", "the access token is invalid, expired or revoked", {}, challenge);
  return std::move(*result.claims);
}

}  // namespace fractal::server
