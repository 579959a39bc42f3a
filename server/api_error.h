// The one error type handlers throw: status, snake_case code, human message,
// optional field and extra headers. The dispatcher turns it (and every other
// exception) into {"error": {"code", "message"[, "field"]}}.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fractal::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, std::string message, std::string field = {}, HeaderList headers = {});

  int status() const noexcept { return status_; }
  const std::string& code() const noexcept { return code_; }
  const std::string& field() const noexcept { return field_; }
  const HeaderList& headers() const noexcept { return headers_; }

  // {"error": {"code", "message"[, "field"]}}
  nlohmann::json body() const;

 private:
  int status_;
  std::string code_;
  std::string field_;
  HeaderList headers_;
};

// The errors every resource uses, so codes and messages stay uniform.
[[nodiscard]] ApiError invalid_parameter(std::string field, std::string message);
[[nodiscard]] ApiError not_found(std::string message = "no such resource");
[[nodiscard]] ApiError task_not_found();

// {"error": {...}} for code/message without an exception.
nlohmann::json error_body(std::string_view code, std::string_view message, std::string_view field = {});

}  // namespace fractal::server
