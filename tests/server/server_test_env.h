// Shared pieces of the server tests: one Postgres, one Redis and one server
// (in-process, port 0, temp data dir) per test executable, started on first
// use; a small HTTP client layer over cpp-httplib; users and tokens.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "auth/secret.h"
#include "server/server.h"
#include "storage/pg_pool.h"
#include "storage/tasks.h"
#include "tests/support/wait_until.h"

namespace fractal::server::testing {

using nlohmann::json;

// The signing key every test server uses (so tests can forge tokens with it).
const auth::SigningKey& test_key();

// Options pointing at the shared services: port 0, 4 threads, the shared data dir.
ServerOptions base_options();

// The shared server, started on first use.
Server& server();
std::uint16_t port();
std::filesystem::path data_dir();
// A pool of our own on the shared Postgres, for arranging state directly.
storage::PgPool& pool();

struct Response {
  int status = 0;
  std::string body;
  std::multimap<std::string, std::string, std::less<>> headers;  // lower-case names
  json j;                                                        // the body parsed, or null

  [[nodiscard]] std::string header(std::string_view name) const;  // "" if absent
  [[nodiscard]] bool has_header(std::string_view name) const;
};

struct Request {
  std::string method = "GET";
  std::string path = "/";
  std::string body;
  std::string content_type;          // sent when not empty
  std::optional<std::string> token;  // Authorization: Bearer
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint16_t port = 0;  // 0: the shared server
};

Response send(const Request& request);
Response get(std::string path, std::optional<std::string> token = std::nullopt, std::uint16_t on_port = 0);
Response post_json(std::string path, const json& body, std::optional<std::string> token = std::nullopt,
                   std::uint16_t on_port = 0);
Response del(std::string path, std::optional<std::string> token, std::uint16_t on_port = 0);

// Raw bytes over a socket; returns everything read until EOF or `timeout`.
std::string raw_exchange(std::uint16_t port, std::string_view bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Expects the contract's error shape with this status and code.
void expect_error(const Response& r, int status, std::string_view code);

std::string unique_username(std::string_view prefix = "u");
inline constexpr const char* kPassword = "correct-horse-battery";
// Signs up `username` and signs in; returns the access token.
std::string sign_up_and_in(const std::string& username, std::uint16_t on_port = 0);

struct User {
  std::string name, id, token;
};
// A fresh user with a token; the id comes from the token's sub claim.
User new_user(std::string_view prefix = "u");

// A valid POST /add body (tiny render).
json small_task(int width = 16, int height = 16);
// Submits small_task() and returns the task object.
json add_task(const User& user, const json& body = small_task());

// Marks a task done as a worker would, after writing `bytes` into the data dir
// as <id>.<ext>.
void finish_task(const std::string& id, std::string_view ext, std::string_view bytes);

// Polls until true or timeout.
using fractal::test::wait_until;  // tests/support/wait_until.h

}  // namespace fractal::server::testing
