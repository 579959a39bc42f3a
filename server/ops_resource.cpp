#include "server/ops_resource.h"

#include "server/openapi.h"

namespace fractal::server {

using Pistache::Http::Method;

void OpsResource::setup_routes(Router& router) {
  router.add(Method::Get, "/livez", [this](RequestContext& c) { return livez(c); });
  router.add(Method::Get, "/readyz", [this](RequestContext& c) { return readyz(c); });
  router.add(Method::Get, "/metrics", [this](RequestContext& c) { return metrics(c); });
}

void OpsResource::setup_openapi(Router& router, bool web_client) {
  std::vector<std::pair<std::string, std::string>> routes;
  for (const Route& r : router.routes()) routes.emplace_back(std::string(method_name(r.method)), r.pattern);
  routes.emplace_back("GET", "/openapi.json");
  openapi_ = openapi_for_routes(routes, web_client).dump();
  router.add(Method::Get, "/openapi.json", [this](RequestContext& c) { return openapi(c); });
}

Reply OpsResource::openapi(RequestContext&) {
  Reply r;
  r.status = 200;
  r.body = openapi_;
  r.content_type = "application/json";
  return r;
}

Reply OpsResource::livez(RequestContext&) { return json_reply(200, {{"status", "ok"}}); }

Reply OpsResource::readyz(RequestContext&) {
  const HeaderList no_store = {{"Cache-Control", "no-store"}};
  if (s_.shutting_down.load()) {
    nlohmann::json body = error_body("shutting_down", "the server is shutting down");
    return json_reply(503, body, no_store);
  }
  const bool pg = s_.pool.ping();
  const bool redis = s_.auth_kv.ping() && s_.queue.ping();
  nlohmann::json checks = {{"postgres", pg ? "ok" : "down"}, {"redis", redis ? "ok" : "down"}};
  if (pg && redis) return json_reply(200, {{"status", "ready"}, {"checks", checks}}, no_store);
  std::string down;
  if (!pg) down = "postgres";
  if (!redis) down += down.empty() ? "redis" : " and redis";
  nlohmann::json body = error_body("not_ready", "not ready: " + down + " unavailable");
  body["checks"] = std::move(checks);
  return json_reply(503, body, no_store);
}

Reply OpsResource::metrics(RequestContext&) {
  Reply r;
  r.status = 200;
  r.body = metrics_.render(s_);
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

}  // namespace fractal::server
