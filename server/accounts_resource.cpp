#include "server/accounts_resource.h"

#include <spdlog/spdlog.h>

#include <array>

#include "auth/credentials.h"
#include "auth/password_hash.h"
#include "runtime/logging.h"
#include "server/basic_auth.h"
#include "storage/timestamp.h"

namespace fractal::server {
namespace {

using Pistache::Http::Method;

const HeaderList& basic_challenge() {
  static const HeaderList h = {{"WWW-Authenticate", "Basic realm=\"fractal\", charset=\"UTF-8\""}};
  return h;
}

}  // namespace

void AccountsResource::setup_routes(Router& router) {
  router.add(Method::Post, "/sign-up", [this](RequestContext& c) { return sign_up(c); });
  router.add(Method::Get, "/sign-in", [this](RequestContext& c) { return sign_in_basic(c); });
  router.add(Method::Post, "/sign-in", [this](RequestContext& c) { return sign_in_json(c); });
  router.add(Method::Post, "/sign-out", [this](RequestContext& c) { return sign_out(c); });
}

Reply AccountsResource::sign_up(RequestContext& ctx) {
  const nlohmann::json body = read_json_object(ctx);
  reject_unknown_fields(body, {"username", "password"});
  const std::string username = required_string(body, "username");
  const std::string password = required_string(body, "password");
  if (auto e = auth::validate_username(username)) throw invalid_parameter(e->field, e->message);
  if (auto e = auth::validate_password(password)) throw invalid_parameter(e->field, e->message);

  // Cheap check first so a taken name costs no Argon2 hash; the unique index
  // still decides between concurrent sign-ups.
  const auto taken = [] { return ApiError(409, "username_taken", "this username is already taken", "username"); };
  if (s_.users.find_by_username(username)) throw taken();
  const std::string hash = auth::hash_password(password);
  const storage::UserCreateResult created = s_.users.create(username, hash);
  if (created.status == storage::UserCreateStatus::username_taken) throw taken();
  spdlog::info("event=sign_up user={}", created.user->id);
  return json_reply(
      201, {{"username", created.user->username}, {"created_at", storage::to_rfc3339(created.user->created_at)}});
}

Reply AccountsResource::sign_in_basic(RequestContext& ctx) {
  const auto header = request_header(ctx.http, "Authorization");
  const auto refuse = [](std::string message) {
    return ApiError(401, "invalid_credentials", std::move(message), {}, basic_challenge());
  };
  if (!header) throw refuse("sign in with HTTP Basic authentication (Authorization: Basic ...)");
  const BasicAuthResult basic = parse_basic_authorization(*header);
  if (!basic.credentials) throw refuse(basic.error);
  return sign_in(basic.credentials->username, basic.credentials->password, Challenge::basic);
}

Reply AccountsResource::sign_in_json(RequestContext& ctx) {
  const nlohmann::json body = read_json_object(ctx);
  reject_unknown_fields(body, {"username", "password"});
  const std::string username = required_string(body, "username");
  const std::string password = required_string(body, "password");
  return sign_in(username, password, Challenge::none);
}

Reply AccountsResource::sign_in(const std::string& username, const std::string& password, Challenge challenge) {
  // Counted before anything is verified (auth/lockout.h): the 6th attempt in
  // the window is refused even with the right password.
  const auth::LoginDecision decision = s_.login_guard.check(username);
  if (decision.locked) {
    const std::string seconds = std::to_string(decision.retry_after.count());
    spdlog::warn("event=sign_in_locked username_key={} retry_after={}",
                 runtime::log_value(s_.login_guard.key_for(username)), seconds);
    throw ApiError(429, "too_many_attempts",
                   "too many failed sign-ins for this username; try again in " + seconds + " s", {},
                   {{"Retry-After", seconds}});
  }
  // Unknown users cost one dummy verification, like a wrong password.
  std::optional<storage::UserRecord> user;
  if (!auth::validate_username(username)) user = s_.users.find_by_username(username);
  const bool ok = user ? auth::verify_password(password, user->password_hash) : auth::verify_dummy(password);
  if (!ok || !user) {
    s_.login_guard.record_failure(username);
    spdlog::info("event=sign_in_failed");
    // GET /sign-in is the HTTP Basic flow: its 401 carries the Basic challenge.
    // A JSON sign-in must not: a browser would hold the request and show its
    // own login dialog instead of letting the page show the error.
    throw ApiError(401, "invalid_credentials", "wrong username or password", {},
                   challenge == Challenge::basic ? basic_challenge() : HeaderList{});
  }
  s_.login_guard.record_success(username);
  // A hash made with weaker parameters (or another algorithm) than today's is
  // replaced now that the password is known. A failure here never fails the sign-in.
  if (auth::default_hasher().needs_rehash(user->password_hash)) {
    try {
      const bool replaced = s_.users.replace_password_hash(user->id, user->password_hash, auth::hash_password(password));
      spdlog::info("event=password_rehashed user={} replaced={}", user->id, replaced);
    } catch (const std::exception& e) {
      spdlog::warn("event=password_rehash_failed user={} error={}", user->id, runtime::log_value(e.what()));
    }
  }
  const auth::IssuedToken token = s_.authenticator.issue(user->id, user->username);
  spdlog::info("event=sign_in user={} jti={}", user->id, token.jti);
  return json_reply(200, {{"access_token", token.token}, {"token_type", "Bearer"}, {"expires_in", token.expires_in}},
                    {{"Cache-Control", "no-store"}, {"Pragma", "no-cache"}});
}

Reply AccountsResource::sign_out(RequestContext& ctx) {
  const auth::Claims claims = s_.bearer.require(ctx);
  s_.authenticator.revoke(claims);
  spdlog::info("event=sign_out user={} jti={}", claims.sub, claims.jti);
  return empty_reply(204);
}

}  // namespace fractal::server
