#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace fractal::server {

ApiError::ApiError(int status, std::string code, std::string message, std::string field, HeaderList headers)
    : std::runtime_error(std::move(message)),
      status_(status),
      code_(std::move(code)),
      field_(std::move(field)),
      headers_(std::move(headers)) {}

nlohmann::json ApiError::body() const { return error_body(code_, what(), field_); }

nlohmann::json error_body(std::string_view code, std::string_view message, std::string_view field) {
  nlohmann::json e = {{"code", code}, {"message", message}};
  if (!field.empty()) e["field"] = field;
  return {{"error", std::move(e)}};
}

ApiError invalid_parameter(std::string field, std::string message) {
  return ApiError(400, "invalid_parameter", std::move(message), std::move(field));
}

ApiError not_found(std::string message) { return ApiError(404, "not_found", std::move(message)); }

ApiError task_not_found() { return not_found("no such task"); }

}  // namespace fractal::server
