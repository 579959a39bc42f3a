#include "tests/server/server_test_env.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "auth/jwt.h"
#include "runtime/logging.h"
#include "server/services.h"
#include "storage/image_store.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/shared_services.h"

namespace fractal::server::testing {
namespace {

struct DataDir {
  DataDir() : path(test::make_scratch_dir("server-data")) {}
  ~DataDir() { test::remove_tree(path); }
  std::filesystem::path path;
};

// With FRACTAL_RESPONSE_LOG=<dir>, every answer send() receives is appended
// to <dir>/<pid>.jsonl; tests/openapi/check.mjs checks them against the
// OpenAPI document (ctest OpenApi.ResponsesMatchDocument).
void record_response(const Request& request, const Response& r) {
  static const char* dir = std::getenv("FRACTAL_RESPONSE_LOG");
  if (dir == nullptr || *dir == '\0') return;
  static std::mutex mutex;
  static std::ofstream out = [] {
    std::filesystem::create_directories(dir);
    return std::ofstream(std::filesystem::path(dir) / (std::to_string(::getpid()) + ".jsonl"), std::ios::app);
  }();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  json line = {{"test", info ? std::string(info->test_suite_name()) + "." + info->name() : std::string("?")},
               {"method", request.method},
               {"target", request.path},
               {"status", r.status},
               {"content_type", r.header("content-type")},
               {"body", r.j},
               {"body_bytes", r.body.size()}};
  std::lock_guard lock(mutex);
  out << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  out.flush();
}

const std::filesystem::path& shared_data_dir() {
  static DataDir dir;
  return dir.path;
}

struct Env {
  Env() {
    test::shared_postgres();
    test::shared_redis();
    shared_data_dir();
    runtime::setup_logging("warn");
    own_pool = std::make_unique<storage::PgPool>(
        storage::PgPoolOptions{.conninfo = test::shared_postgres().conninfo(), .size = 4});
    instance = std::make_unique<Server>(base_options());
    bound = instance->start();
  }
  ~Env() {
    instance.reset();
    own_pool.reset();
  }
  std::unique_ptr<storage::PgPool> own_pool;
  std::unique_ptr<Server> instance;
  std::uint16_t bound = 0;
};

Env& env() {
  static Env e;
  return e;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const auth::SigningKey& test_key() {
  static const auth::SigningKey key(std::string("server-test-signing-key-0123456789abcdef"));
  return key;
}

ServerOptions base_options() {
  ServerOptions o;
  o.port = 0;
  o.bind = "127.0.0.1";
  o.threads = 4;
  o.pg_conninfo = test::shared_postgres().conninfo();
  o.redis.host = test::shared_redis().host();
  o.redis.port = test::shared_redis().port();
  o.data_dir = shared_data_dir();
  o.signing_key = test_key();
  o.startup_timeout = std::chrono::seconds(10);
  o.shutdown_timeout = std::chrono::seconds(10);
  return o;
}

Server& server() { return *env().instance; }
std::uint16_t port() { return env().bound; }
std::filesystem::path data_dir() { return shared_data_dir(); }
storage::PgPool& pool() { return *env().own_pool; }

std::string Response::header(std::string_view name) const {
  auto it = headers.find(lower(std::string(name)));
  return it == headers.end() ? std::string() : it->second;
}
bool Response::has_header(std::string_view name) const { return headers.count(lower(std::string(name))) > 0; }

Response send(const Request& request) {
  httplib::Client client("127.0.0.1", request.port ? request.port : port());
  client.set_connection_timeout(5);
  client.set_read_timeout(20);
  client.set_write_timeout(20);
  httplib::Headers headers;
  for (const auto& [k, v] : request.headers) headers.emplace(k, v);
  if (request.token) headers.emplace("Authorization", "Bearer " + *request.token);
  httplib::Request req;
  req.method = request.method;
  req.path = request.path;
  req.headers = headers;
  req.body = request.body;
  if (!request.content_type.empty()) req.headers.emplace("Content-Type", request.content_type);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH")
    req.headers.emplace("Content-Length", std::to_string(request.body.size()));
  httplib::Result result = client.send(req);
  Response r;
  if (!result) {
    ADD_FAILURE() << request.method << " " << request.path << ": " << httplib::to_string(result.error());
    return r;
  }
  r.status = result->status;
  r.body = result->body;
  for (const auto& [k, v] : result->headers) r.headers.emplace(lower(k), v);
  r.j = json::parse(r.body, nullptr, false);
  if (r.j.is_discarded()) r.j = nullptr;
  record_response(request, r);
  return r;
}

Response get(std::string path, std::optional<std::string> token, std::uint16_t on_port) {
  return send(Request{.method = "GET", .path = std::move(path), .token = std::move(token), .port = on_port});
}

Response post_json(std::string path, const json& body, std::optional<std::string> token, std::uint16_t on_port) {
  return send(Request{.method = "POST",
                      .path = std::move(path),
                      .body = body.dump(),
                      .content_type = "application/json",
                      .token = std::move(token),
                      .port = on_port});
}

Response del(std::string path, std::optional<std::string> token, std::uint16_t on_port) {
  return send(Request{.method = "DELETE", .path = std::move(path), .token = std::move(token), .port = on_port});
}

std::string raw_exchange(std::uint16_t to_port, std::string_view bytes, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(to_port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect");
  }
  std::string out;
  // Pistache keeps the connection open even after "Connection: close", so
  // stop once a final (non-1xx) response is complete, by its Content-Length.
  const auto complete = [&out] {
    std::size_t start = 0;
    while (true) {
      const std::size_t end = out.find("\r\n\r\n", start);
      if (end == std::string::npos) return false;
      const std::string head = out.substr(start, end - start);
      if (head.rfind("HTTP/1.1 1", 0) == 0) {  // interim response
        start = end + 4;
        continue;
      }
      std::size_t length = 0;
      std::string lower_head = head;
      for (auto& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (const auto at = lower_head.find("content-length:"); at != std::string::npos)
        length = std::stoul(head.substr(at + 15));
      if (head.find(" 204 ") != std::string::npos) length = 0;
      return out.size() >= end + 4 + length;
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + test::sanitizer_scaled(timeout);
  std::size_t sent = 0;
  char buf[65536];
  bool peer_closed = false;
  while (!peer_closed && !complete() && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, static_cast<short>(POLLIN | (sent < bytes.size() ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 50) < 0) break;
    if ((p.revents & POLLOUT) && sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0)
        sent += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EAGAIN)
        sent = bytes.size();  // peer gone: stop writing, keep reading
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        peer_closed = true;
      else
        out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

void expect_error(const Response& r, int status, std::string_view code) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u) << r.header("Content-Type");
  ASSERT_TRUE(r.j.is_object()) << r.body;
  ASSERT_TRUE(r.j.contains("error")) << r.body;
  EXPECT_EQ(r.j["error"].value("code", ""), code) << r.body;
  EXPECT_TRUE(r.j["error"]["message"].is_string() && !r.j["error"]["message"].get<std::string>().empty()) << r.body;
}

std::string unique_username(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = std::random_device{}() % 100000;
  return std::string(prefix) + std::to_string(getpid() % 100000) + "_" + std::to_string(salt) + "_" +
         std::to_string(counter++);
}

std::string sign_up_and_in(const std::string& username, std::uint16_t on_port) {
  const Response up = post_json("/sign-up", {{"username", username}, {"password", kPassword}}, std::nullopt, on_port);
  EXPECT_EQ(up.status, 201) << up.body;
  const Response in = post_json("/sign-in", {{"username", username}, {"password", kPassword}}, std::nullopt, on_port);
  EXPECT_EQ(in.status, 200) << in.body;
  return in.j.value("access_token", "");
}

User new_user(std::string_view prefix) {
  User u;
  u.name = unique_username(prefix);
  u.token = sign_up_and_in(u.name);
  const auto payload =
      auth::detail::base64url_decode(u.token.substr(u.token.find('.') + 1, u.token.rfind('.') - u.token.find('.') - 1));
  if (payload) u.id = json::parse(*payload).value("sub", "");
  return u;
}

json small_task(int width, int height) { return {{"width", width}, {"height", height}, {"max_iter", 50}}; }

json add_task(const User& user, const json& body) {
  const Response r = post_json("/add", body, user.token);
  EXPECT_EQ(r.status, 202) << r.body;
  return r.j;
}

void finish_task(const std::string& id, std::string_view ext, std::string_view bytes) {
  storage::ImageStore images(data_dir());
  const auto path = images.path_for(id, ext);
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  storage::TaskRepo tasks(pool());
  const auto claim = tasks.mark_running(id, "test-worker", "cpu:test x1");
  ASSERT_EQ(claim.status, storage::ClaimStatus::claimed);
  storage::RenderOutcome outcome;
  outcome.backend = "cpu:test x1";
  outcome.precision_used = "double";
  outcome.iterations = 12345;
  outcome.render_ms = 7;
  outcome.file_path = path.filename().string();
  outcome.file_size = static_cast<std::int64_t>(bytes.size());
  ASSERT_TRUE(tasks.mark_done(id, outcome));
}

}  // namespace fractal::server::testing
