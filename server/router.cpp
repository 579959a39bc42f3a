#include "server/router.h"

#include <stdexcept>

namespace fractal::server {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool match_pattern(std::string_view pattern, std::string_view path,
                   std::vector<std::pair<std::string, std::string>>& params) {
  const auto want = split_path(pattern);
  const auto got = split_path(path);
  if (want.size() != got.size() || got.empty()) return false;
  std::vector<std::pair<std::string, std::string>> found;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (!want[i].empty() && want[i].front() == ':') {
      if (got[i].empty()) return false;
      found.emplace_back(std::string(want[i].substr(1)), std::string(got[i]));
    } else if (want[i] != got[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

}  // namespace

std::string_view method_name(Pistache::Http::Method method) {
  using M = Pistache::Http::Method;
  switch (method) {
    case M::Options:
      return "OPTIONS";
    case M::Get:
      return "GET";
    case M::Post:
      return "POST";
    case M::Head:
      return "HEAD";
    case M::Put:
      return "PUT";
    case M::Patch:
      return "PATCH";
    case M::Delete:
      return "DELETE";
    case M::Trace:
      return "TRACE";
    case M::Connect:
      return "CONNECT";
  }
  return "UNKNOWN";
}

void Router::add(Pistache::Http::Method method, std::string pattern, RouteHandler handler) {
  for (const auto& r : routes_)
    if (r.method == method && r.pattern == pattern)
      throw std::logic_error("duplicate route " + std::string(method_name(method)) + " " + pattern);
  routes_.push_back(Route{method, std::move(pattern), std::move(handler)});
}

bool Router::wrap(Pistache::Http::Method method, std::string_view pattern,
                  std::function<Reply(RequestContext&, const RouteHandler&)> wrapper) {
  for (auto& r : routes_) {
    if (r.method != method || r.pattern != pattern) continue;
    r.handler = [inner = std::move(r.handler), wrapper = std::move(wrapper)](RequestContext& ctx) {
      return wrapper(ctx, inner);
    };
    return true;
  }
  return false;
}

void Router::set_fallback(std::string label, RouteHandler handler) {
  fallback_ = Route{Pistache::Http::Method::Get, std::move(label), std::move(handler)};
}

RouteMatch Router::match(Pistache::Http::Method method, std::string_view path) const {
  RouteMatch m;
  for (const auto& r : routes_) {
    std::vector<std::pair<std::string, std::string>> params;
    if (!match_pattern(r.pattern, path, params)) continue;
    if (r.method == method) {
      m.route = &r;
      m.params = std::move(params);
      m.allowed.clear();
      return m;
    }
    m.allowed.push_back(r.method);
  }
  if (fallback_ && m.allowed.empty() &&
      (method == Pistache::Http::Method::Get || method == Pistache::Http::Method::Head))
    m.route = &*fallback_;
  return m;
}

}  // namespace fractal::server
