#include "server/openapi.h"

#include <charconv>
#include <regex>
#include <set>
#include <stdexcept>

#include "kernels/color/palette.h"
#include "kernels/task_spec.h"
#include "server/http_io.h"
#include "server/tile_query.h"
#include "storage/tasks.h"

namespace fractal::server {
namespace {

using nlohmann::json;

// What the code does not hold in a table: paths, responses, shapes of the
// answers. "$TaskBody" and friends are filled in from the field table below.
constexpr const char* kDocument = R"json({
  "openapi": "3.1.0",
  "info": {
    "title": "fractal-render API",
    "version": "1.0.0",
    "summary": "Mandelbrot and Julia renders on GPUs: accounts, tasks, downloads, map tiles, operations.",
    "description": "The reference with every rule and decision is docs/api.md in the source tree. Every error is {\"error\": {\"code\", \"message\"[, \"field\"]}}. Request bodies are JSON objects with Content-Type: application/json. Every answer carries X-Request-Id. Unknown paths are 404 not_found; a known path with another method is 405 method_not_allowed with Allow; a body over the limit below is 413 payload_too_large; a request line and headers over theirs are 431 headers_too_large."
  },
  "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
  "tags": [
    {"name": "accounts"}, {"name": "tasks"}, {"name": "images"}, {"name": "tiles"}, {"name": "operations"}, {"name": "web"}
  ],
  "paths": {
    "/sign-up": {"post": {
      "tags": ["accounts"], "operationId": "signUp", "summary": "Create an account",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Credentials"},
        "example": {"username": "ada", "password": "a-long-secret"}}}},
      "responses": {
        "201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Account"}}}},
        "400": {"$ref": "#/components/responses/BadRequest"},
        "409": {"description": "username_taken", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "413": {"$ref": "#/components/responses/PayloadTooLarge"},
        "415": {"$ref": "#/components/responses/UnsupportedMediaType"}}}},
    "/sign-in": {
      "get": {
        "tags": ["accounts"], "operationId": "signInBasic", "summary": "Get a token with HTTP Basic credentials",
        "security": [{"basicAuth": []}],
        "responses": {
          "200": {"$ref": "#/components/responses/Token"},
          "401": {"description": "invalid_credentials (with WWW-Authenticate: Basic realm=\"fractal\", charset=\"UTF-8\")",
            "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "429": {"$ref": "#/components/responses/TooManyAttempts"}}},
      "post": {
        "tags": ["accounts"], "operationId": "signIn", "summary": "Get a token with a JSON body",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SignIn"}}}},
        "responses": {
          "200": {"$ref": "#/components/responses/Token"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"description": "invalid_credentials (no WWW-Authenticate: browsers would open their own dialog)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "413": {"$ref": "#/components/responses/PayloadTooLarge"},
          "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/TooManyAttempts"}}}},
    "/sign-out": {"post": {
      "tags": ["accounts"], "operationId": "signOut", "summary": "Revoke the token until it expires",
      "security": [{"bearerAuth": []}],
      "responses": {
        "204": {"description": "Revoked"},
        "401": {"$ref": "#/components/responses/Unauthorized"}}}},
    "/add": {"post": {
      "tags": ["tasks"], "operationId": "addTask", "summary": "Submit one render, or a batch of 1-$MAX_BATCH",
      "security": [{"bearerAuth": []}],
      "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
      "requestBody": {"required": true, "content": {"application/json": {
        "schema": {"oneOf": [{"$ref": "#/components/schemas/TaskBody"}, {"$ref": "#/components/schemas/TaskBatchBody"}]},
        "examples": {
          "julia": {"value": {"fractal": "julia", "julia_c": [-0.8, 0.156], "width": 1920, "height": 1080, "palette": "ocean"}},
          "deep": {"value": {"center": ["0", "1"], "scale": "1e-1000", "max_iter": 20000}},
          "batch": {"value": {"tasks": [{"width": 256, "height": 256}, {"fractal": "julia", "julia_c": [0, 1]}]}}}}}},
      "responses": {
        "202": {"description": "Accepted: the task object (with Location), or {\"tasks\": [task objects]} for a batch",
          "headers": {"Location": {"description": "/tasks/<id> (single submissions only)", "schema": {"type": "string"}},
                      "Idempotent-Replayed": {"description": "true when an Idempotency-Key replay answered", "schema": {"type": "string"}}},
          "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Task"}, {"$ref": "#/components/schemas/TaskList"}]}}}},
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "413": {"$ref": "#/components/responses/PayloadTooLarge"},
        "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
        "422": {"description": "zoom_too_deep (a view below scale 1e-10000), idempotency_key_reused",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "429": {"description": "quota_exceeded: the user's unfinished tasks would pass the quota; nothing created",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/tasks": {"get": {
      "tags": ["tasks"], "operationId": "listTasks", "summary": "The caller's tasks, newest first",
      "security": [{"bearerAuth": []}],
      "parameters": [
        {"name": "status", "in": "query", "schema": {"$ref": "#/components/schemas/TaskStatus"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
        {"name": "before", "in": "query", "description": "a task id of the caller's: list the tasks older than it", "schema": {"type": "string", "format": "uuid"}}],
      "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskList"}}}},
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"}}}},
    "/tasks/{id}": {
      "parameters": [{"$ref": "#/components/parameters/TaskId"}],
      "get": {
        "tags": ["tasks"], "operationId": "getTask", "summary": "One task",
        "security": [{"bearerAuth": []}],
        "responses": {
          "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Task"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"}}},
      "delete": {
        "tags": ["tasks"], "operationId": "deleteTask", "summary": "Stop a render and remove the task and its files",
        "security": [{"bearerAuth": []}],
        "responses": {
          "200": {"$ref": "#/components/responses/Deleted"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"}}}},
    "/tasks/{id}/cancel": {"post": {
      "tags": ["tasks"], "operationId": "cancelTask", "summary": "Stop a queued or running render, keep the task (status canceled)",
      "security": [{"bearerAuth": []}],
      "parameters": [{"$ref": "#/components/parameters/TaskId"}],
      "requestBody": {"required": false, "description": "no body, or {}", "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false}}}},
      "responses": {
        "200": {"description": "The task object, canceled or unchanged when already finished", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Task"}}}},
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "404": {"$ref": "#/components/responses/NotFound"},
        "413": {"$ref": "#/components/responses/PayloadTooLarge"},
        "415": {"$ref": "#/components/responses/UnsupportedMediaType"}}}},
    "/delete": {"post": {
      "tags": ["tasks"], "operationId": "deleteTaskByBody", "summary": "Same as DELETE /tasks/{id}",
      "security": [{"bearerAuth": []}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["id"], "additionalProperties": false,
        "properties": {"id": {"type": "string"}}}}}},
      "responses": {
        "200": {"$ref": "#/components/responses/Deleted"},
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "404": {"$ref": "#/components/responses/NotFound"},
        "413": {"$ref": "#/components/responses/PayloadTooLarge"},
        "415": {"$ref": "#/components/responses/UnsupportedMediaType"}}}},
    "/stats": {"get": {
      "tags": ["tasks"], "operationId": "stats", "summary": "The caller's tasks by status, queue depth, workers, throughput, tiles",
      "security": [{"bearerAuth": []}],
      "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}},
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"}}}},
    "/palettes": {"get": {
      "tags": ["tasks"], "operationId": "palettes", "summary": "The built-in palettes (no token needed)",
      "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Palettes"}}}}}}},
    "/download": {"get": {
      "tags": ["images"], "operationId": "download", "summary": "The image of a finished task",
      "security": [{"bearerAuth": []}],
      "parameters": [{"name": "id", "in": "query", "required": true, "schema": {"type": "string"}}],
      "responses": {
        "200": {"description": "The file; Content-Disposition: attachment; filename=\"<id>.<ext>\"",
          "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
          "content": {"image/png": {"schema": {}}, "image/jpeg": {"schema": {}}, "image/tiff": {"schema": {}}, "image/x-exr": {"schema": {}}}},
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "404": {"$ref": "#/components/responses/NotFound"},
        "409": {"description": "not_ready: queued or running", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "410": {"description": "failed or canceled", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/tiles/{z}/{x}/{y}.png": {"get": {
      "tags": ["tiles"], "operationId": "tile", "summary": "One 256x256 PNG tile of the zoomable pyramid",
      "description": "Tile (z, x, y) is exactly the POST /add render with width = height = 256, scale = 4/2^z and the centre of that tile in the square of side 4 around the fractal's default centre.",
      "security": [{"bearerAuth": []}],
      "parameters": [
        {"name": "z", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}, "description": "level, an integer >= 0"},
        {"name": "x", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}, "description": "column, 0 to 2^z - 1"},
        {"name": "y", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}, "description": "row, 0 to 2^z - 1"},
        {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
      "responses": {
        "200": {"description": "The tile",
          "headers": {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string", "const": "private, max-age=86400"}},
                      "X-Cache": {"schema": {"type": "string", "enum": ["hit", "miss"]}}},
          "content": {"image/png": {"schema": {}}}},
        "304": {"description": "If-None-Match matched the current ETag"},
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "422": {"description": "zoom_too_deep (field z)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "429": {"description": "too_many_requests: 64 tile renders in flight for this user", "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/livez": {"get": {
      "tags": ["operations"], "operationId": "livez", "summary": "200 while the process runs",
      "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "additionalProperties": false,
        "properties": {"status": {"const": "ok"}}}}}}}}},
    "/readyz": {"get": {
      "tags": ["operations"], "operationId": "readyz", "summary": "200 when Postgres and Redis answer; 503 naming what is down, or once shutdown begins",
      "responses": {
        "200": {"description": "Ready", "content": {"application/json": {"schema": {"type": "object", "required": ["status", "checks"], "additionalProperties": false,
          "properties": {"status": {"const": "ready"}, "checks": {"$ref": "#/components/schemas/Checks"}}}}}},
        "503": {"description": "not_ready (with checks) or shutting_down", "content": {"application/json": {"schema": {"type": "object", "required": ["error"], "additionalProperties": false,
          "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}, "checks": {"$ref": "#/components/schemas/Checks"}}}}}}}}},
    "/metrics": {"get": {
      "tags": ["operations"], "operationId": "metrics", "summary": "Prometheus text format 0.0.4",
      "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": {
      "tags": ["operations"], "operationId": "openapi", "summary": "This document",
      "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}}}}},
    "/": {"get": {
      "tags": ["web"], "operationId": "webClient", "summary": "The browser client (index.html); its files are served from the same origin",
      "description": "GET and HEAD of paths no API route takes are the web client's files: /assets/<name>-<hash>.<ext> and others, or index.html for a browser navigation (Accept: text/html) to a path without an extension; else the JSON 404.",
      "responses": {
        "200": {"description": "index.html", "content": {"text/html": {"schema": {"type": "string"}}}},
        "404": {"$ref": "#/components/responses/NotFound"}}}}
  },
  "components": {
    "securitySchemes": {
      "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "HS256 token from /sign-in; missing, malformed, expired, revoked or wrongly signed tokens are 401 with WWW-Authenticate: Bearer"},
      "basicAuth": {"type": "http", "scheme": "basic"}
    },
    "parameters": {
      "TaskId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "a task id (UUID); another user's task or a malformed id is 404"},
      "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": false,
        "description": "1-255 visible ASCII characters; a retry of the same submission by the same user answers the first one (Idempotent-Replayed: true); another body under the key is 422 idempotency_key_reused",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255}}
    },
    "headers": {
      "Retry-After": {"description": "seconds", "schema": {"type": "string", "pattern": "^[0-9]+$"}},
      "WWW-Authenticate": {"schema": {"type": "string"}}
    },
    "responses": {
      "BadRequest": {"description": "invalid_parameter (with field), invalid_json, invalid_body",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unauthorized": {"description": "unauthorized (no token) or invalid_token; WWW-Authenticate: Bearer realm=\"fractal\"",
        "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "not_found", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "PayloadTooLarge": {"description": "payload_too_large: body over the body limit (info.description)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "UnsupportedMediaType": {"description": "unsupported_media_type: the body is not Content-Type: application/json", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "TooManyAttempts": {"description": "too_many_attempts: 5 failed sign-ins for this username within 15 minutes",
        "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "InternalError": {"description": "internal_error (a bug; never for bad input)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "ServiceUnavailable": {"description": "service_unavailable: Postgres or Redis cannot serve now (the message names it); busy for a tile no worker rendered in time",
        "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Token": {"description": "A token (Cache-Control: no-store)", "content": {"application/json": {"schema": {"type": "object",
        "required": ["access_token", "token_type", "expires_in"], "additionalProperties": false,
        "properties": {"access_token": {"type": "string"}, "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer", "minimum": 1}}}}}},
      "Deleted": {"description": "Deleted", "content": {"application/json": {"schema": {"type": "object", "required": ["id", "status"], "additionalProperties": false,
        "properties": {"id": {"type": "string", "format": "uuid"}, "status": {"const": "deleted"}}}}}}
    },
    "schemas": {
      "ErrorDetail": {"type": "object", "required": ["code", "message"], "additionalProperties": false,
        "properties": {"code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}, "message": {"type": "string", "minLength": 1},
                       "field": {"type": "string", "description": "the parameter at fault (tasks[3].width in a batch)"}}},
      "Error": {"type": "object", "required": ["error"], "additionalProperties": false,
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}}},
      "Credentials": {"type": "object", "required": ["username", "password"], "additionalProperties": false,
        "properties": {"username": {"type": "string", "minLength": 3, "maxLength": 32, "pattern": "^[A-Za-z0-9_.-]+$", "description": "case-insensitively unique"},
                       "password": {"type": "string", "minLength": 8, "maxLength": 128, "description": "no whitespace or control characters"}}},
      "SignIn": {"type": "object", "required": ["username", "password"], "additionalProperties": false,
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
      "Account": {"type": "object", "required": ["username", "created_at"], "additionalProperties": false,
        "properties": {"username": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}},
      "TaskStatus": {"type": "string", "enum": ["queued", "running", "done", "failed", "canceled"]},
      "Task": {"type": "object", "additionalProperties": false,
        "required": ["id", "status", "progress", "params", "created_at", "started_at", "finished_at", "error", "backend", "render_ms", "iterations", "download_url", "precision_used"],
        "properties": {
          "id": {"type": "string", "format": "uuid"},
          "status": {"$ref": "#/components/schemas/TaskStatus"},
          "progress": {"type": "number", "minimum": 0, "maximum": 1},
          "params": {"$ref": "#/components/schemas/TaskParams"},
          "created_at": {"type": "string", "format": "date-time"},
          "started_at": {"type": ["string", "null"], "format": "date-time"},
          "finished_at": {"type": ["string", "null"], "format": "date-time"},
          "error": {"type": ["string", "null"]},
          "backend": {"type": ["string", "null"], "description": "cuda:<device name> or cpu:<isa> x<threads>"},
          "render_ms": {"type": ["number", "null"], "minimum": 0},
          "iterations": {"type": ["integer", "null"], "minimum": 0},
          "download_url": {"type": ["string", "null"], "description": "/download?id=<id> once done"},
          "precision_used": {"type": ["string", "null"], "enum": ["float", "double", "deep", null]},
          "deep": {"type": ["object", "null"], "description": "figures of a finished deep render, else null"}}},
      "TaskList": {"type": "object", "required": ["tasks"], "additionalProperties": false,
        "properties": {"tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}}},
      "TaskBatchBody": {"type": "object", "required": ["tasks"], "additionalProperties": false,
        "description": "All or nothing: one invalid body is 400 naming tasks[<i>].<field>; a batch past the quota is 429; Idempotency-Key covers the whole batch",
        "properties": {"tasks": {"type": "array", "minItems": 1, "maxItems": "$MAX_BATCH", "items": {"$ref": "#/components/schemas/TaskBody"}}}},
      "Decimal": {"description": "a finite JSON number, or a plain decimal string (exponent allowed, no hex/inf/nan/spaces, up to $MAX_DIGITS significant digits) kept at full precision",
        "oneOf": [{"type": "number"}, {"type": "string", "pattern": "^[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?$"}]},
      "Checks": {"type": "object", "required": ["postgres", "redis"], "additionalProperties": false,
        "properties": {"postgres": {"enum": ["ok", "down"]}, "redis": {"enum": ["ok", "down"]}}},
      "Stats": {"type": "object", "required": ["tasks", "queue_depth", "workers_alive", "renders_per_second", "iterations_per_second", "window_seconds"],
        "additionalProperties": false,
        "properties": {
          "tasks": {"type": "object", "additionalProperties": false, "required": ["queued", "running", "done", "failed", "canceled", "total"],
            "properties": {"queued": {"type": "integer"}, "running": {"type": "integer"}, "done": {"type": "integer"}, "failed": {"type": "integer"}, "canceled": {"type": "integer"}, "total": {"type": "integer"}}},
          "queue_depth": {"type": "integer", "minimum": 0},
          "workers_alive": {"type": "integer", "minimum": 0},
          "renders_per_second": {"type": "number", "minimum": 0},
          "iterations_per_second": {"type": "number", "minimum": 0},
          "window_seconds": {"const": 60},
          "tiles": {"type": "object", "additionalProperties": false,
            "required": ["cache_bytes", "cache_entries", "cache_max_bytes", "queue_depth", "rendered", "dropped", "batches", "mean_batch_size", "server_hits", "server_misses", "server_busy"],
            "properties": {"cache_bytes": {"type": "integer"}, "cache_entries": {"type": "integer"}, "cache_max_bytes": {"type": "integer"}, "queue_depth": {"type": "integer"},
              "rendered": {"type": "integer"}, "dropped": {"type": "integer"}, "batches": {"type": "integer"}, "mean_batch_size": {"type": "number"},
              "server_hits": {"type": "integer"}, "server_misses": {"type": "integer"}, "server_busy": {"type": "integer"}}}}},
      "Palettes": {"type": "object", "required": ["palettes"], "additionalProperties": false,
        "properties": {"palettes": {"type": "array", "items": {"type": "object", "required": ["name", "description", "stops"], "additionalProperties": false,
          "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                         "stops": {"type": "array", "minItems": 2, "items": {"type": "string", "pattern": "^#[0-9a-f]{6}$"}}}}}}}
    }
  }
})json";

// "1-16384; ..." -> {1, 16384}; "2-256 ..." inside a longer rule too.
std::optional<std::pair<long long, long long>> rule_range(std::string_view rule) {
  static const std::regex range(R"((\d[\d,]*)-(\d[\d,]*))");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(rule.begin(), rule.end(), m, range)) return std::nullopt;
  auto number = [](std::string s) {
    std::erase(s, ',');
    return std::stoll(s);
  };
  return std::make_pair(number(m[1].str()), number(m[2].str()));
}

// The quoted words of a rule: "\"png\", \"jpg\" or \"exr\"; ..." -> png, jpg, exr.
json rule_enum(std::string_view rule) {
  static const std::regex quoted("\"([a-z]+)\"");
  json values = json::array();
  for (std::regex_iterator<std::string_view::const_iterator> it(rule.begin(), rule.end(), quoted), end; it != end; ++it)
    values.push_back((*it)[1].str());
  return values;
}

json palette_names() {
  json names = json::array();
  for (const auto& p : builtin_palettes()) names.push_back(p.name);
  return names;
}

json field_schema(const FieldInfo& f) {
  json s;
  const std::string rule(f.rule);
  if (f.type == "int") {
    s = {{"type", "integer"}};
    if (auto r = rule_range(rule)) {
      s["minimum"] = r->first;
      s["maximum"] = r->second;
    }
  } else if (f.type == "enum") {
    s = {{"type", "string"}, {"enum", rule_enum(rule)}};
  } else if (f.type == "number") {
    s = {{"$ref", "#/components/schemas/Decimal"}};
  } else if (f.type == "pair") {
    s = {{"type", "array"}, {"minItems", 2}, {"maxItems", 2}, {"items", {{"$ref", "#/components/schemas/Decimal"}}}};
  } else if (f.type == "palette") {
    json stops = {{"type", "array"}, {"items", {{"type", "string"}, {"pattern", "^#[0-9A-Fa-f]{6}$"}}}};
    if (auto r = rule_range(rule)) {
      stops["minItems"] = r->first;
      stops["maxItems"] = r->second;
    }
    s = {{"oneOf", json::array({{{"type", "string"}, {"enum", palette_names()}}, stops})}};
  } else {
    throw std::logic_error("openapi: field type " + std::string(f.type) + " has no schema");
  }
  if (f.name == "julia_c") s = {{"oneOf", json::array({s, {{"type", "null"}}})}};
  const json def = json::parse(f.default_text, nullptr, false);
  if (!def.is_discarded()) s["default"] = def;
  std::string description = rule;
  if (def.is_discarded() && f.default_text != "(none)") description += "; default " + std::string(f.default_text);
  s["description"] = description;
  return s;
}

// The tile query: the same rules as the body fields of the same names, as text.
json tile_query_parameters(const json& body_properties) {
  json params = json::array();
  for (std::string_view name : kTileQueryFields) {
    const json& body = body_properties.at(std::string(name));
    json schema = {{"type", "string"}};
    std::string description = body.value("description", "");
    if (name == "max_iter") {
      schema = {{"type", "integer"}, {"minimum", body.at("minimum")}, {"maximum", body.at("maximum")}};
    } else if (name == "fractal" || name == "precision") {
      schema["enum"] = body.at("enum");
    } else if (name == "coloring") {
      schema["enum"] = json::array({"smooth", "bands"});
      description += " (histogram depends on the whole image: 400 for tiles)";
    } else if (name == "julia_c") {
      description = "re,im; required for julia, refused for mandelbrot";
    } else if (name == "palette") {
      description = "a name from GET /palettes, or 2-256 #rrggbb stops separated by commas (%23 for #)";
    }
    if (body.contains("default")) schema["default"] = body.at("default");
    params.push_back({{"name", name}, {"in", "query"}, {"schema", schema}, {"description", description}});
  }
  return params;
}

void replace_placeholders(json& j) {
  if (j.is_object() || j.is_array()) {
    for (auto& v : j) replace_placeholders(v);
  } else if (j.is_string()) {
    std::string s = j.get<std::string>();
    auto sub = [&s](std::string_view key, const std::string& value) {
      for (std::size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), value);
    };
    if (s == "$MAX_BATCH") {
      j = storage::kMaxBatchTasks;
      return;
    }
    sub("$MAX_BATCH", std::to_string(storage::kMaxBatchTasks));
    sub("$MAX_DIGITS", std::to_string(kMaxDecimalDigits));
    j = s;
  }
}

json build_document() {
  json doc = json::parse(kDocument);
  replace_placeholders(doc);
  json properties = json::object();
  for (const FieldInfo& f : task_fields()) properties[std::string(f.name)] = field_schema(f);
  json& schemas = doc["components"]["schemas"];
  schemas["TaskBody"] = {{"type", "object"},
                         {"additionalProperties", false},
                         {"description", "The fields of one render; unknown fields are 400 naming the field. Also the "
                                         "fractal-render --params file."},
                         {"properties", properties}};
  // The echo in the task object: every field, defaults filled in.
  json required = json::array();
  for (const FieldInfo& f : task_fields()) required.push_back(f.name);
  schemas["TaskParams"] = {{"allOf", json::array({{{"$ref", "#/components/schemas/TaskBody"}}})},
                           {"required", required}};
  // Every operation of the API proper can fail inside (500); all but /palettes
  // reach Postgres or Redis, so they answer 503 while one is down.
  for (auto& [path, item] : doc["paths"].items()) {
    for (auto& [method, op] : item.items()) {
      if (!op.is_object() || !op.contains("tags")) continue;
      const std::string tag = op["tags"][0];
      if (tag == "operations" || tag == "web") continue;
      op["responses"]["500"] = {{"$ref", "#/components/responses/InternalError"}};
      if (op["operationId"] != "palettes") op["responses"]["503"] = {{"$ref", "#/components/responses/ServiceUnavailable"}};
    }
  }
  json& tile = doc["paths"]["/tiles/{z}/{x}/{y}.png"]["get"]["parameters"];
  for (auto& p : tile_query_parameters(properties)) tile.push_back(std::move(p));
  doc["info"]["description"] = doc["info"]["description"].get<std::string>() + " Limits: request bodies at most " +
                               std::to_string(kMaxBodyBytes) + " bytes, request line and headers at most " +
                               std::to_string(kMaxHeadBytes) + " bytes.";
  return doc;
}

}  // namespace

const json& openapi_document() {
  static const json doc = build_document();
  return doc;
}

std::string openapi_path(std::string_view pattern) {
  std::string out;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == ':' && (i == 0 || pattern[i - 1] == '/')) {
      std::size_t end = i + 1;
      while (end < pattern.size() && pattern[end] != '/' && pattern[end] != '.') ++end;
      out += "{" + std::string(pattern.substr(i + 1, end - i - 1)) + "}";
      i = end;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

json openapi_for_routes(const std::vector<std::pair<std::string, std::string>>& routes, bool web_client) {
  const json& full = openapi_document();
  json doc = full;
  json paths = json::object();
  for (const auto& [method, pattern] : routes) {
    const std::string path = openapi_path(pattern);
    std::string verb = method;
    for (auto& c : verb) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto p = full["paths"].find(path);
    if (p == full["paths"].end() || !p->contains(verb))
      throw std::logic_error("route " + method + " " + pattern + " has no operation in the OpenAPI document (server/openapi.cpp)");
    paths[path][verb] = (*p)[verb];
    if (p->contains("parameters")) paths[path]["parameters"] = (*p)["parameters"];
  }
  if (web_client) paths["/"] = full["paths"]["/"];
  doc["paths"] = std::move(paths);
  return doc;
}

}  // namespace fractal::server
