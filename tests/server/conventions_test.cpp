// The conventions of docs/api.md that hold for every route: JSON bodies,
// size limit, error shape, unknown routes and methods; and what reaches the
// server below the routes (raw HTTP the guard in front of Pistache refuses).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/server/server_test_env.h"

namespace fractal::server::testing {
namespace {

json parse_raw_body(const std::string& raw) {
  const auto at = raw.find("\r\n\r\n");
  if (at == std::string::npos) return nullptr;
  json j = json::parse(raw.substr(at + 4), nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

int raw_status(const std::string& raw) { return raw.size() > 12 ? std::stoi(raw.substr(9, 3)) : 0; }

Response post_raw(const std::string& path, const std::string& body, const std::string& content_type,
                  std::optional<std::string> token = std::nullopt) {
  return send(Request{.method = "POST", .path = path, .body = body, .content_type = content_type, .token = token});
}

TEST(Conventions, JsonBodiesNeedTheJsonContentType) {
  const std::string body = json{{"username", unique_username()}, {"password", kPassword}}.dump();
  expect_error(post_raw("/sign-up", body, "text/plain"), 415, "unsupported_media_type");
  expect_error(post_raw("/sign-up", body, "application/x-www-form-urlencoded"), 415, "unsupported_media_type");
  expect_error(post_raw("/sign-up", body, "application/json; charset=latin1"), 415, "unsupported_media_type");
  expect_error(post_raw("/sign-up", body, ""), 415, "unsupported_media_type");  // no Content-Type
  const User u = new_user("ct");
  expect_error(post_raw("/add", small_task().dump(), "text/json", u.token), 415, "unsupported_media_type");
  // Parameters are fine, letter case too.
  EXPECT_EQ(post_raw("/sign-up", body, "Application/JSON; charset=UTF-8").status, 201);
  EXPECT_EQ(post_raw("/add", small_task().dump(), "application/json;charset=utf-8", u.token).status, 202);
}

TEST(Conventions, MalformedJsonAndNonObjects) {
  const User u = new_user("js");
  for (const char* body : {"{", "{\"width\": }", "", "nul", "{\"a\":1}x", "\xff\xfe"}) {
    SCOPED_TRACE(body);
    expect_error(post_raw("/sign-up", body, "application/json"), 400, "invalid_json");
    expect_error(post_raw("/add", body, "application/json", u.token), 400, "invalid_json");
  }
  for (const char* body : {"[]", "[1,2]", "\"text\"", "42", "null", "true"}) {
    SCOPED_TRACE(body);
    expect_error(post_raw("/sign-up", body, "application/json"), 400, "invalid_body");
    expect_error(post_raw("/add", body, "application/json", u.token), 400, "invalid_body");
    expect_error(post_raw("/delete", body, "application/json", u.token), 400, "invalid_body");
  }
}

TEST(Conventions, BodiesOver64KiBAre413Json) {
  const User u = new_user("big");
  for (std::size_t size : {std::size_t{65 * 1024}, std::size_t{5 * 1024 * 1024}}) {
    SCOPED_TRACE(size);
    const std::string body = "{\"password\":\"" + std::string(size, 'x') + "\"}";
    expect_error(post_raw("/sign-up", body, "application/json"), 413, "payload_too_large");
    expect_error(post_raw("/add", body, "application/json", u.token), 413, "payload_too_large");
    expect_error(post_raw("/no-such-route", body, "application/json"), 413, "payload_too_large");
  }
  // Exactly 64 KiB is still read (and then refused for what it says).
  std::string body = "{\"widht\":\"";
  body += std::string(64 * 1024 - body.size() - 2, 'x') + "\"}";
  ASSERT_EQ(body.size(), 64u * 1024);
  const Response r = post_raw("/add", body, "application/json", u.token);
  expect_error(r, 400, "invalid_parameter");
  EXPECT_EQ(r.j["error"]["field"], "widht");
  // The server is fine afterwards.
  EXPECT_EQ(get("/livez").status, 200);
}

TEST(Conventions, ChunkedBodyOverTheLimitIs413Json) {
  std::string req =
      "POST /sign-up HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(8192, 'a');
  for (int i = 0; i < 16; ++i) req += "2000\r\n" + chunk + "\r\n";
  req += "0\r\n\r\n";
  const std::string raw = raw_exchange(port(), req);
  EXPECT_EQ(raw_status(raw), 413) << raw.substr(0, 200);
  EXPECT_EQ(parse_raw_body(raw)["error"]["code"], "payload_too_large") << raw.substr(0, 300);
}

TEST(Conventions, SmallChunkedBodyIsRead) {
  const std::string body = json{{"username", unique_username()}, {"password", kPassword}}.dump();
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  const std::string req =
      "POST /sign-up HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n";
  const std::string raw = raw_exchange(port(), req);
  EXPECT_EQ(raw_status(raw), 201) << raw;
}

TEST(Conventions, ExpectContinueIsAnswered) {
  const std::string body = json{{"username", unique_username()}, {"password", kPassword}}.dump();
  const std::string head =
      "POST /sign-up HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto read_some = [&] {
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  };
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  EXPECT_EQ(read_some(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(::send(fd, body.data(), body.size(), MSG_NOSIGNAL), static_cast<ssize_t>(body.size()));
  const std::string answer = read_some();
  EXPECT_EQ(answer.rfind("HTTP/1.1 201", 0), 0u) << answer;
  ::close(fd);
}

TEST(Conventions, WhatPistacheWouldAnswerInTextIsJson) {
  struct Case {
    std::string request;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"POST /sign-up HTTP/1.1\r\nHost: x\r\nContent-Type: foo\r\nContent-Length: 2\r\n\r\n{}", 415,
       "unsupported_media_type"},
      {"POST /sign-up HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}", 400,
       "bad_request"},
      {"POST /sign-up HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{}", 413,
       "payload_too_large"},
      {"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(40 * 1024, 'h') + "\r\n\r\n", 431,
       "headers_too_large"},
      {"BREW /livez HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"},
      // A method that is not UTF-8 (bench/fuzz/http_guard_fuzz.cpp): its JSON answer threw and ended the server.
      {"PU\xf7\xff\xff\xffT /x HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"},
      // A bare CR inside a header value (http_guard_fuzz): Pistache answered it in text.
      {"GET /livez HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400, "bad_request"},
      {"POST /add HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented"},
      {"GET /livez HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"},
      {"GET\r\n\r\n", 400, "bad_request"},
      {"GET /livez HTTP/1.1\r\nno colon here\r\n\r\n", 400, "bad_request"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.request.substr(0, 80));
    const std::string raw = raw_exchange(port(), c.request);
    EXPECT_EQ(raw_status(raw), c.status) << raw.substr(0, 300);
    EXPECT_NE(raw.find("Content-Type: application/json"), std::string::npos) << raw.substr(0, 300);
    EXPECT_EQ(parse_raw_body(raw)["error"]["code"], c.code) << raw.substr(0, 300);
  }
  EXPECT_EQ(get("/livez").status, 200);
}

// A query parameter without a name: "?&" is nothing, "?=x" is refused naming "query"
// (bench/fuzz/tile_query_fuzz.cpp found the empty field and the message starting with ":").
TEST(Conventions, QueryParameterWithoutAName) {
  const User u = new_user("qn");
  EXPECT_EQ(get("/tasks?&limit=5", u.token).status, 200);
  const Response r = get("/tasks?=x", u.token);
  expect_error(r, 400, "invalid_parameter");
  EXPECT_EQ(r.j["error"]["field"], "query");
  const Response tile = get("/tiles/0/0/0.png?=x", u.token);
  expect_error(tile, 400, "invalid_parameter");
  EXPECT_EQ(tile.j["error"]["field"], "query");
}

// One connection, several requests one after the other, the second one
// trickling in byte by byte: the guard must hand every byte to Pistache once.
TEST(Conventions, KeepAliveConnectionAndSplitWrites) {
  const User u = new_user("ka");
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto read_response = [&] {
    std::string got;
    char buf[4096];
    while (true) {
      const auto end = got.find("\r\n\r\n");
      if (end != std::string::npos) {
        const auto cl = got.find("Content-Length: ");
        if (cl != std::string::npos && got.size() >= end + 4 + std::stoul(got.substr(cl + 16))) return got;
      }
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return got;
      got.append(buf, static_cast<std::size_t>(n));
    }
  };
  const std::string body = small_task().dump();
  const std::string add =
      "POST /add HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nAuthorization: Bearer " + u.token +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string list =
      "GET /tasks HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nAuthorization: Bearer " + u.token + "\r\n\r\n";
  ASSERT_EQ(::send(fd, add.data(), add.size(), MSG_NOSIGNAL), static_cast<ssize_t>(add.size()));
  EXPECT_EQ(read_response().rfind("HTTP/1.1 202", 0), 0u);
  for (char c : add) {  // byte by byte
    ASSERT_EQ(::send(fd, &c, 1, MSG_NOSIGNAL), 1);
    if (c == '\n') std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(read_response().rfind("HTTP/1.1 202", 0), 0u);
  ASSERT_EQ(::send(fd, list.data(), list.size(), MSG_NOSIGNAL), static_cast<ssize_t>(list.size()));
  const std::string listed = read_response();
  EXPECT_EQ(listed.rfind("HTTP/1.1 200", 0), 0u) << listed;
  EXPECT_EQ(json::parse(listed.substr(listed.find("\r\n\r\n") + 4))["tasks"].size(), 2u);
  ::close(fd);
}

TEST(Conventions, UnknownRouteIs404Json) {
  for (const char* path : {"/nope", "/", "/tasks/", "/tasks/a/b", "/add/", "/SIGN-UP"}) {
    SCOPED_TRACE(path);
    expect_error(get(path), 404, "not_found");
  }
  expect_error(post_json("/nope", json::object()), 404, "not_found");
}

TEST(Conventions, WrongMethodIs405JsonWithAllow) {
  struct Case {
    std::string method, path, allow;
  };
  const std::vector<Case> cases = {
      {"GET", "/add", "POST"},
      {"PUT", "/tasks", "GET"},
      {"PATCH", "/tasks/00000000-0000-4000-8000-000000000000", "DELETE, GET"},
      {"DELETE", "/livez", "GET"},
      {"POST", "/palettes", "GET"},
      {"PUT", "/sign-in", "GET, POST"},
      {"OPTIONS", "/tasks", "GET"},
      {"GET", "/sign-out", "POST"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path);
    const Response r =
        send(Request{.method = c.method, .path = c.path, .body = "{}", .content_type = "application/json"});
    expect_error(r, 405, "method_not_allowed");
    EXPECT_EQ(r.header("Allow"), c.allow);
  }
  // HEAD is not served (no body-less GET variant): 405 without a body.
  const std::string raw = raw_exchange(port(), "HEAD /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw_status(raw), 405) << raw;
}

TEST(Conventions, EveryAnswerHasARequestId) {
  EXPECT_FALSE(get("/livez").header("X-Request-Id").empty());
  EXPECT_FALSE(get("/nope").header("X-Request-Id").empty());
  EXPECT_NE(get("/livez").header("X-Request-Id"), get("/livez").header("X-Request-Id"));
}

TEST(Conventions, ManyRequestsInParallel) {
  const User u = new_user("par");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (get("/tasks", u.token).status == 200) ++ok;
        if (get("/nope").status == 404) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
}

}  // namespace
}  // namespace fractal::server::testing
