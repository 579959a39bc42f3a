#include "server/http_io.h"

#include "server/ascii.h"
#include "server/param_name.h"

#include <pistache/http_headers.h>

#include <algorithm>
#include <cctype>
#include <sstream>

namespace fractal::server {
namespace {

}  // namespace

Reply json_reply(int status, const nlohmann::json& body, HeaderList headers) {
  Reply r;
  r.status = status;
  // Replace invalid UTF-8 rather than throw: bodies echo client input.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.content_type = "application/json";
  r.headers = std::move(headers);
  return r;
}

Reply empty_reply(int status, HeaderList headers) {
  Reply r;
  r.status = status;
  r.headers = std::move(headers);
  return r;
}

Reply error_reply(const ApiError& error) { return json_reply(error.status(), error.body(), error.headers()); }

const std::string& RequestContext::path_param(std::string_view name) const {
  static const std::string empty;
  for (const auto& [k, v] : path_params)
    if (k == name) return v;
  return empty;
}

std::optional<std::string> request_header(const Pistache::Http::Request& request, std::string_view name) {
  const auto& headers = request.headers();
  const std::string n(name);
  if (auto raw = headers.tryGetRaw(n)) return raw->value();
  auto typed = headers.tryGet(n);
  if (!typed) return std::nullopt;
  if (auto auth = std::dynamic_pointer_cast<const Pistache::Http::Header::Authorization>(typed)) return auth->value();
  if (auto ct = std::dynamic_pointer_cast<const Pistache::Http::Header::ContentType>(typed)) return ct->mime().raw();
  std::ostringstream os;
  typed->write(os);
  return os.str();
}

bool is_json_media_type(std::string_view content_type) {
  const std::size_t semi = content_type.find(';');
  if (ascii_lower(trim(content_type.substr(0, semi))) != "application/json") return false;
  std::string_view rest = semi == std::string_view::npos ? std::string_view{} : content_type.substr(semi + 1);
  while (!rest.empty()) {
    const std::size_t next = rest.find(';');
    const std::string_view param = trim(rest.substr(0, next));
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
    if (param.empty()) continue;
    const std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) return false;
    if (ascii_lower(trim(param.substr(0, eq))) != "charset") continue;
    std::string_view value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    const std::string v = ascii_lower(value);
    if (v != "utf-8" && v != "utf8") return false;
  }
  return true;
}

nlohmann::json read_json_object(const RequestContext& ctx) {
  const auto content_type = request_header(ctx.http, "Content-Type");
  if (!content_type || !is_json_media_type(*content_type))
    throw ApiError(415, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json)");
  const std::string& body = ctx.http.body();
  // Its size was checked by the dispatcher (server.cpp) for every request.
  nlohmann::json value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) throw ApiError(400, "invalid_json", "the request body is not valid JSON");
  if (!value.is_object()) throw ApiError(400, "invalid_body", "the request body must be a JSON object");
  return value;
}

void reject_unknown_fields(const nlohmann::json& object, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : object.items()) {
    (void)value;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      throw invalid_parameter(key, key + ": unknown field");
  }
}

std::string required_string(const nlohmann::json& object, std::string_view name) {
  const std::string key(name);
  const auto it = object.find(key);
  if (it == object.end()) throw invalid_parameter(key, key + ": required");
  if (!it->is_string()) throw invalid_parameter(key, key + ": must be a string");
  return it->get<std::string>();
}

void reject_unknown_query(const RequestContext& ctx, std::initializer_list<std::string_view> allowed) {
  std::vector<std::string> names = ctx.http.query().parameters();
  std::sort(names.begin(), names.end());  // deterministic message when several are wrong
  for (const auto& name : names) {
    // "?&" and a trailing "?" leave a parameter with neither name nor value: ignored;
    // "?=x" is refused, named "query" (a message starts with the field it names).
    if (name.empty()) {
      if (query_param(ctx, "").value_or("").empty()) continue;
      throw invalid_parameter("query", "query: a parameter without a name");
    }
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      const std::string shown = printable_name(name);
      throw invalid_parameter(shown, shown + ": unknown query parameter");
    }
  }
}

std::optional<std::string> query_param(const RequestContext& ctx, std::string_view name) {
  return ctx.http.query().get(std::string(name));
}

}  // namespace fractal::server
