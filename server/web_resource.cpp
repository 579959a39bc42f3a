#include "server/web_resource.h"

#include <spdlog/spdlog.h>

#include <array>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>
#include <unistd.h>

#include "runtime/percent_decode.h"
#include "server/router.h"

namespace fractal::server {
namespace {

namespace fs = std::filesystem;

// Whether `in` (whose escapes all decode) encodes a '/', '\\' or NUL: those
// would smuggle a separator or a terminator past the checks on the decoded path.
bool encodes_forbidden(std::string_view in) {
  for (std::size_t i = 0; i + 2 < in.size(); ++i) {
    if (in[i] != '%') continue;
    const char c = static_cast<char>(runtime::hex_digit(in[i + 1]) * 16 + runtime::hex_digit(in[i + 2]));
    if (c == '/' || c == '\\' || c == '\0') return true;
  }
  return false;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view extension_of(std::string_view name) {
  const std::size_t slash = name.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  const std::size_t dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  return base.substr(dot + 1);
}

// Vite names hashed assets "<name>-<hash>.<ext>" with an 8-character base64url hash.
bool is_hashed_asset(std::string_view rel) {
  if (rel.substr(0, 7) != "assets/") return false;
  const std::string_view ext = extension_of(rel);
  if (ext.empty()) return false;
  std::string_view stem = rel.substr(0, rel.size() - ext.size() - 1);
  const std::size_t dash = stem.rfind('-');
  if (dash == std::string_view::npos) return false;
  const std::string_view hash = stem.substr(dash + 1);
  if (hash.size() < 8) return false;
  for (char c : hash)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

bool wants_html(const RequestContext& ctx) {
  const auto accept = request_header(ctx.http, "Accept");
  return accept && accept->find("text/html") != std::string::npos;
}

HeaderList common_headers() {
  return {{"Content-Security-Policy", std::string(WebResource::kContentSecurityPolicy)},
          {"X-Content-Type-Options", "nosniff"},
          {"Referrer-Policy", "no-referrer"},
          {"X-Frame-Options", "DENY"}};
}

bool under(const fs::path& root, const fs::path& p) {
  auto r = root.begin(), i = p.begin();
  for (; r != root.end(); ++r, ++i)
    if (i == p.end() || *r != *i) return false;
  return true;
}

}  // namespace

std::string web_content_type(std::string_view file_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 17> types{{
      {"html", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"webmanifest", "application/manifest+json"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"svg", "image/svg+xml"},
      {"ico", "image/x-icon"},
      {"webp", "image/webp"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"txt", "text/plain; charset=utf-8"},
  }};
  std::string ext(extension_of(file_name));
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [e, type] : types)
    if (e == ext) return std::string(type);
  return "application/octet-stream";
}

std::string web_relative_path(std::string_view request_path) {
  const auto decoded_or = runtime::percent_decode(request_path);
  if (!decoded_or || encodes_forbidden(request_path)) return {};
  const std::string& decoded = *decoded_or;
  if (decoded.empty() || decoded.front() != '/') return {};
  if (decoded.find('\\') != std::string::npos) return {};
  std::string rel;
  std::string_view rest = std::string_view(decoded).substr(1);
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    if (seg.empty()) {
      if (slash == std::string_view::npos) break;  // trailing '/'
      return {};                                  // "//"
    }
    if (seg.front() == '.') return {};  // "..", ".", dot-files
    for (char c : seg)
      if (static_cast<unsigned char>(c) < 0x20) return {};
    if (!rel.empty()) rel += '/';
    rel += seg;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return rel.empty() ? "index.html" : rel;
}

fs::path default_web_dir() {
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / ".." / ".." / "web" / "dist");
    candidates.push_back(exe.parent_path() / ".." / "share" / "fractal" / "web");
  }
#ifdef FRACTAL_SOURCE_DIR
  candidates.push_back(fs::path(FRACTAL_SOURCE_DIR) / "web" / "dist");
#endif
  for (const auto& c : candidates)
    if (fs::is_regular_file(c / "index.html", ec)) return fs::weakly_canonical(c, ec);
  return {};
}

WebResource::WebResource(fs::path root) {
  std::error_code ec;
  root_ = fs::weakly_canonical(root, ec);
  if (ec) root_ = std::move(root);
  if (!fs::is_regular_file(root_ / "index.html", ec))
    spdlog::warn("event=web_dir_missing dir=\"{}\" hint=\"run scripts/build (npm ci && npm run build in web/)\"",
                 root_.string());
}

void WebResource::setup_routes(Router& router) {
  router.set_fallback("web", [this](RequestContext& ctx) { return serve(ctx); });
}

Reply WebResource::serve(RequestContext& ctx) const {
  const std::string path = ctx.http.resource();
  const std::string rel = web_relative_path(path);
  if (rel.empty()) throw not_found("no such endpoint");
  std::error_code ec;
  fs::path file = fs::weakly_canonical(root_ / rel, ec);
  bool ok = !ec && under(root_, file) && fs::is_regular_file(file, ec);
  std::string served = rel;
  if (!ok) {
    const bool spa = extension_of(rel).empty() && rel.substr(0, 7) != "assets/" && rel != "assets" && wants_html(ctx);
    if (!spa) throw not_found("no such endpoint");
    served = "index.html";
    file = root_ / served;
    if (!fs::is_regular_file(file, ec)) throw not_found("the web client is not built");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw not_found("no such endpoint");
  std::ostringstream body;
  body << in.rdbuf();

  Reply reply;
  reply.status = 200;
  reply.body = body.str();
  reply.content_type = web_content_type(served);
  reply.headers = common_headers();
  if (is_hashed_asset(served))
    reply.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
  else
    reply.headers.emplace_back("Cache-Control", "no-cache");
  return reply;
}

}  // namespace fractal::server
