// The web route group's path and header rules (server/web_resource.h), no services.
#include <gtest/gtest.h>

#include "server/router.h"
#include "server/server_options.h"
#include "server/web_resource.h"

namespace fractal::server {
namespace {

TEST(WebPath, MapsRequestPathsToFilesUnderTheRoot) {
  EXPECT_EQ(web_relative_path("/"), "index.html");
  EXPECT_EQ(web_relative_path("/index.html"), "index.html");
  EXPECT_EQ(web_relative_path("/assets/index-AbC_12-x.js"), "assets/index-AbC_12-x.js");
  EXPECT_EQ(web_relative_path("/assets/"), "assets");
  EXPECT_EQ(web_relative_path("/a%20b.png"), "a b.png");
}

TEST(WebPath, RefusesTraversalEncodedOrNot) {
  for (const char* bad : {"/..", "/../etc/passwd", "/assets/../../etc/passwd", "/%2e%2e/etc/passwd",
                          "/%2E%2E/x", "/assets/%2e%2e/index.html", "/assets/..%2f..%2fetc", "/a%2fb", "/a%5cb",
                          "/a\\b", "/.env", "/assets/.hidden", "//etc/passwd", "/a%00b", "/%zz", "/%2", "relative"})
    EXPECT_EQ(web_relative_path(bad), "") << bad;
}

TEST(WebContentType, ByExtension) {
  EXPECT_EQ(web_content_type("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(web_content_type("assets/index-abcdefgh.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(web_content_type("assets/index-abcdefgh.css"), "text/css; charset=utf-8");
  EXPECT_EQ(web_content_type("a.PNG"), "image/png");
  EXPECT_EQ(web_content_type("a.svg"), "image/svg+xml");
  EXPECT_EQ(web_content_type("a.woff2"), "font/woff2");
  EXPECT_EQ(web_content_type("README"), "application/octet-stream");
  EXPECT_EQ(web_content_type("a.exe"), "application/octet-stream");
}

TEST(WebRoutes, GroupParsesAndApiRoutesWin) {
  auto g = parse_route_groups("auth,web");
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->web);
  EXPECT_FALSE(g->tasks);
  EXPECT_EQ(to_string(*g), "auth,web");
  EXPECT_FALSE(parse_route_groups("images")->web);
  EXPECT_EQ(to_string(*parse_route_groups("all")), "all");

  Router router;
  router.add(Pistache::Http::Method::Get, "/tasks", [](RequestContext&) { return empty_reply(204); });
  router.add(Pistache::Http::Method::Post, "/add", [](RequestContext&) { return empty_reply(204); });
  router.set_fallback("web", [](RequestContext&) { return empty_reply(200); });
  EXPECT_EQ(router.match(Pistache::Http::Method::Get, "/tasks").route->pattern, "/tasks");
  EXPECT_EQ(router.match(Pistache::Http::Method::Get, "/").route->pattern, "web");
  EXPECT_EQ(router.match(Pistache::Http::Method::Head, "/assets/x.js").route->pattern, "web");
  const auto post = router.match(Pistache::Http::Method::Post, "/");
  EXPECT_EQ(post.route, nullptr);  // only GET/HEAD fall back
  const auto get_add = router.match(Pistache::Http::Method::Get, "/add");
  EXPECT_EQ(get_add.route, nullptr);  // a known path with another method stays 405
  EXPECT_FALSE(get_add.allowed.empty());
}

}  // namespace
}  // namespace fractal::server
