// Server pieces that need no services: the head guard, media types, the
// route table, option parsing, error bodies.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/http_io.h"
#include "server/pistache_handler.h"
#include "server/router.h"
#include "server/server_options.h"

namespace fractal::server {
namespace {

using nlohmann::json;
using Pistache::Http::Method;

HeadVerdict inspect(const std::string& head) { return inspect_head(head, TransportLimits{}); }

TEST(HeadGuard, PassesOrdinaryRequests) {
  EXPECT_EQ(inspect("GET /tasks?limit=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a.b.c\r\n\r\n").status, 0);
  EXPECT_EQ(
      inspect("POST /add HTTP/1.1\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 65536\r\n\r\n")
          .status,
      0);
  EXPECT_EQ(inspect("GET / HTTP/1.0\r\n\r\n").status, 0);
  const HeadVerdict cont = inspect("POST /add HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
  EXPECT_EQ(cont.status, 0);
  EXPECT_TRUE(cont.expect_continue);
  EXPECT_FALSE(inspect("POST /add HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n").expect_continue);
}

TEST(HeadGuard, RefusesWhatPistacheWouldAnswerInText) {
  EXPECT_EQ(inspect("POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n").status, 413);
  EXPECT_EQ(inspect("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n").status, 400);
  EXPECT_EQ(inspect("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n").status, 400);
  EXPECT_EQ(inspect("POST / HTTP/1.1\r\nContent-Type: foo\r\n\r\n").status, 415);
  EXPECT_EQ(inspect("POST / HTTP/1.1\r\nContent-Type: application/jsonx\r\n\r\n").status, 415);
  EXPECT_EQ(inspect("FOO / HTTP/1.1\r\n\r\n").status, 501);
  EXPECT_EQ(inspect("GET / HTTP/3\r\n\r\n").status, 505);
  EXPECT_EQ(inspect("GET /\r\n\r\n").status, 400);
  EXPECT_EQ(inspect("GET  / HTTP/1.1\r\n\r\n").status, 400);
  EXPECT_EQ(inspect("GET / HTTP/1.1\r\nbad header\r\n\r\n").status, 400);
  EXPECT_EQ(inspect("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n").status, 400);
  EXPECT_EQ(inspect("GET / HTTP/1.1\r\nX: " + std::string(40000, 'a') + "\r\n\r\n").status, 431);
}

TEST(HeadGuard, RawErrorResponseIsJsonAndCloses) {
  const std::string r = raw_json_error_response(413, "payload_too_large", "too big");
  EXPECT_EQ(r.rfind("HTTP/1.1 413 Payload Too Large\r\n", 0), 0u);
  EXPECT_NE(r.find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos);
  const json body = json::parse(r.substr(r.find("\r\n\r\n") + 4));
  EXPECT_EQ(body, json::parse(R"({"error":{"code":"payload_too_large","message":"too big"}})"));
  EXPECT_NE(r.find("Content-Length: " + std::to_string(body.dump().size())), std::string::npos);
}

TEST(MediaType, JsonAndItsParameters) {
  EXPECT_TRUE(is_json_media_type("application/json"));
  EXPECT_TRUE(is_json_media_type("Application/JSON"));
  EXPECT_TRUE(is_json_media_type("application/json; charset=utf-8"));
  EXPECT_TRUE(is_json_media_type("application/json;charset=\"UTF-8\""));
  EXPECT_TRUE(is_json_media_type("application/json; charset=utf8; foo=bar"));
  EXPECT_FALSE(is_json_media_type("application/json; charset=latin1"));
  EXPECT_FALSE(is_json_media_type("application/jsonp"));
  EXPECT_FALSE(is_json_media_type("text/json"));
  EXPECT_FALSE(is_json_media_type("application/vnd.api+json"));
  EXPECT_FALSE(is_json_media_type(""));
  EXPECT_FALSE(is_json_media_type("application/json; junk"));
}

TEST(RouterTable, MatchesParamsAndReportsAllowedMethods) {
  Router r;
  r.add(Method::Get, "/tasks", [](RequestContext&) { return empty_reply(200); });
  r.add(Method::Get, "/tasks/:id", [](RequestContext&) { return empty_reply(200); });
  r.add(Method::Delete, "/tasks/:id", [](RequestContext&) { return empty_reply(200); });
  EXPECT_THROW(r.add(Method::Get, "/tasks", [](RequestContext&) { return empty_reply(200); }), std::logic_error);

  RouteMatch m = r.match(Method::Get, "/tasks/abc");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/tasks/:id");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0], (std::pair<std::string, std::string>{"id", "abc"}));

  m = r.match(Method::Post, "/tasks/abc");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed, (std::vector<Method>{Method::Get, Method::Delete}));

  for (const char* path : {"/tasks/", "/tasks/a/b", "/task", "", "tasks", "/tasks//"}) {
    m = r.match(Method::Get, path);
    EXPECT_EQ(m.route, nullptr) << path;
    EXPECT_TRUE(m.allowed.empty()) << path;
  }
}

TEST(Options, RouteGroups) {
  auto all = parse_route_groups("all");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->auth && all->tasks && all->images);
  auto images = parse_route_groups("images");
  ASSERT_TRUE(images);
  EXPECT_FALSE(images->auth);
  EXPECT_FALSE(images->tasks);
  EXPECT_TRUE(images->images);
  auto two = parse_route_groups("auth,tasks");
  ASSERT_TRUE(two);
  EXPECT_EQ(to_string(*two), "auth,tasks");
  std::string error;
  EXPECT_FALSE(parse_route_groups("auth,pictures", &error));
  EXPECT_NE(error.find("pictures"), std::string::npos);
  EXPECT_FALSE(parse_route_groups(""));
  EXPECT_FALSE(parse_route_groups("auth,"));
}

TEST(Options, CommandLineAndEnvironment) {
  ServerOptions o;
  CliValues v;
  CLI::App app;
  add_cli_options(app, o, v);
  setenv("FRACTAL_QUOTA", "9", 1);
  const char* argv[] = {"fractal-server", "--port",        "9000",        "--routes", "images",
                        "--redis",        "10.0.0.2:7000", "--token-ttl", "60"};
  app.parse(static_cast<int>(std::size(argv)), const_cast<char**>(argv));
  unsetenv("FRACTAL_QUOTA");
  EXPECT_EQ(finish_options(o, v), "");
  EXPECT_EQ(o.port, 9000);
  EXPECT_EQ(o.quota, 9);
  EXPECT_EQ(o.redis.host, "10.0.0.2");
  EXPECT_EQ(o.redis.port, 7000);
  EXPECT_EQ(o.token_ttl, std::chrono::seconds(60));
  EXPECT_FALSE(o.routes.tasks);
  EXPECT_TRUE(o.routes.images);
  EXPECT_GE(o.threads, 1);
}

TEST(Errors, Shape) {
  EXPECT_EQ(error_body("x", "y"), json::parse(R"({"error":{"code":"x","message":"y"}})"));
  EXPECT_EQ(invalid_parameter("width", "width: bad").body(),
            json::parse(R"({"error":{"code":"invalid_parameter","message":"width: bad","field":"width"}})"));
  EXPECT_EQ(task_not_found().status(), 404);
}

}  // namespace
}  // namespace fractal::server
