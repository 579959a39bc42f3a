// The route table: (method, pattern) -> handler, with ":name" path segments.
// Built once at start-up and read-only afterwards, so lookups from every
// Pistache thread are safe. (Pistache's own Rest::Router inserts into a map on
// lookup of a method without routes — a data race, see server/README.md;
// this table has no such path.) Unknown paths are 404, known paths with
// another method 405 with an Allow header, both answered by the dispatcher.
#pragma once

#include <pistache/http_defs.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http_io.h"

namespace fractal::server {

using RouteHandler = std::function<Reply(RequestContext&)>;

struct Route {
  Pistache::Http::Method method;
  std::string pattern;  // "/tasks/:id"; also the metrics label
  RouteHandler handler;
};

struct RouteMatch {
  const Route* route = nullptr;  // set on a match
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<Pistache::Http::Method> allowed;  // path known, method not: 405
};

class Router {
 public:
  // Throws std::logic_error for a duplicate (method, pattern).
  void add(Pistache::Http::Method method, std::string pattern, RouteHandler handler);
  // Replaces the handler of (method, pattern) by `wrapper`, which gets the
  // previous handler to call; false when no such route exists.
  bool wrap(Pistache::Http::Method method, std::string_view pattern,
            std::function<Reply(RequestContext&, const RouteHandler&)> wrapper);
  // The handler of GET and HEAD requests no route matches (the web client);
  // `label` is its metrics label. API routes always win.
  void set_fallback(std::string label, RouteHandler handler);
  [[nodiscard]] RouteMatch match(Pistache::Http::Method method, std::string_view path) const;
  [[nodiscard]] const std::vector<Route>& routes() const noexcept { return routes_; }

 private:
  std::vector<Route> routes_;
  std::optional<Route> fallback_;
};

[[nodiscard]] std::string_view method_name(Pistache::Http::Method method);

}  // namespace fractal::server
