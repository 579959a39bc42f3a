// The `web` route group: the browser client (web/, built by Vite into
// web/dist) served at GET / from a directory. See docs/api.md "Web client".
//  - "/" and "/index.html": index.html, Cache-Control: no-cache.
//  - "/assets/<name>-<hash>.<ext>": Cache-Control: public, max-age=31536000, immutable.
//  - Every answer carries a same-origin Content-Security-Policy and nosniff.
//  - No directory listing; a path with a ".." segment (raw or percent-encoded),
//    a backslash, NUL, an encoded "/" or a dot-file is 404; files are served
//    only when their canonical path lies under the directory.
//  - An unknown path is index.html (the single-page app) only when it has no
//    file extension, is not under /assets/, and the client asks for HTML
//    (Accept: text/html, i.e. a browser navigation); otherwise the API's JSON 404.
// The group is the router's GET/HEAD fallback, so every API route wins.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "server/http_io.h"

namespace fractal::server {

class Router;

// The content type for a file name (by extension); application/octet-stream when unknown.
[[nodiscard]] std::string web_content_type(std::string_view file_name);

// The file under `root` that `request_path` names ("" when the path is refused:
// traversal, encoded separators, dot-files). Not checked for existence.
[[nodiscard]] std::string web_relative_path(std::string_view request_path);

// The directory holding index.html that fractal-server serves when --web-dir is
// not given: <exe>/../../web/dist (a build tree under the source tree),
// <exe>/../share/fractal/web (an install), then the source tree's web/dist.
// Empty when none has an index.html.
[[nodiscard]] std::filesystem::path default_web_dir();

class WebResource {
 public:
  explicit WebResource(std::filesystem::path root);
  void setup_routes(Router& router);
  [[nodiscard]] Reply serve(RequestContext& ctx) const;

  static constexpr std::string_view kContentSecurityPolicy =
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
      "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
      "frame-ancestors 'none'";

 private:
  std::filesystem::path root_;  // canonical
};

}  // namespace fractal::server
