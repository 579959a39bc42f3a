// GET /openapi.json: the OpenAPI 3.1 document of the running server.
// The request body schema of POST /add (and the tile query's parameters) is
// generated from the TaskSpec field table (task_fields()), the limits from the
// constants the code checks, the palette names from the palette table; the
// rest (paths, responses) is written here once. The server documents exactly
// the routes it registered: a route without an operation here stops the start
// (openapi_for_routes throws), so the document cannot fall behind the code.
// Validated with an OpenAPI validator and every response of the integration
// suites is checked against it (tests/openapi).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fractal::server {

// The full document: every operation of every route group, and the web client.
[[nodiscard]] const nlohmann::json& openapi_document();

// ":id" -> "{id}", ":y.png" -> "{y}.png": a router pattern as an OpenAPI path.
[[nodiscard]] std::string openapi_path(std::string_view router_pattern);

// The document restricted to these (method, router pattern) routes, e.g.
// {"GET", "/tasks/:id"}, plus "/" when the web client is served. Throws
// std::logic_error naming a route the document does not describe.
[[nodiscard]] nlohmann::json openapi_for_routes(const std::vector<std::pair<std::string, std::string>>& routes,
                                                bool web_client);

}  // namespace fractal::server
