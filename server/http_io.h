// Request and reply shapes shared by every resource: handlers get a
// RequestContext and return a Reply; only the dispatcher writes to Pistache.
// Also the request conventions of docs/api.md in one place: JSON bodies
// (415/413/400, unknown fields), query parameters, headers.
#pragma once

#include <pistache/http.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/api_error.h"
#include "server/request_limits.h"

namespace fractal::server {

// A file answered with sendfile, never read into memory.
struct FileReply {
  std::filesystem::path path;
  std::string content_type;
};

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type;  // empty when there is no body
  HeaderList headers;
  std::optional<FileReply> file;
  // Set by a handler whose answer needs a long wait (a tile render): the
  // dispatcher runs it on a waiter thread and sends what it returns (or the
  // error it throws), so the Pistache thread is free at once. It must not
  // touch the request: copy what it needs. `client_gone` answers whether the
  // client has closed its connection (an aborted fetch): a wait may end early.
  std::function<Reply(const std::function<bool()>& client_gone)> deferred;
};

[[nodiscard]] Reply json_reply(int status, const nlohmann::json& body, HeaderList headers = {});
[[nodiscard]] Reply empty_reply(int status, HeaderList headers = {});
[[nodiscard]] Reply error_reply(const ApiError& error);

struct RequestContext {
  const Pistache::Http::Request& http;
  std::vector<std::pair<std::string, std::string>> path_params;  // from the route pattern

  // The value of a ":name" segment of the matched route ("" if none).
  [[nodiscard]] const std::string& path_param(std::string_view name) const;
};

// A request header by name (case-insensitive), whether Pistache kept it raw or
// parsed it into a typed header; nullopt when absent.
[[nodiscard]] std::optional<std::string> request_header(const Pistache::Http::Request& request, std::string_view name);

// "application/json", any letter case, optionally with parameters; a charset
// parameter must say utf-8.
[[nodiscard]] bool is_json_media_type(std::string_view content_type);

// The body as a JSON object: 415 unless Content-Type is JSON, 413 over 64 KiB,
// 400 invalid_json when it does not parse, 400 invalid_body when it is not an object.
[[nodiscard]] nlohmann::json read_json_object(const RequestContext& ctx);
// 400 invalid_parameter naming the first member not in `allowed` (body order).
void reject_unknown_fields(const nlohmann::json& object, std::initializer_list<std::string_view> allowed);
// A required string member: 400 naming it when missing or not a string.
[[nodiscard]] std::string required_string(const nlohmann::json& object, std::string_view name);

// 400 invalid_parameter naming the first query parameter not in `allowed`.
void reject_unknown_query(const RequestContext& ctx, std::initializer_list<std::string_view> allowed);
[[nodiscard]] std::optional<std::string> query_param(const RequestContext& ctx, std::string_view name);

}  // namespace fractal::server
