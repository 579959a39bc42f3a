#include "server/server.h"

#include <pistache/endpoint.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <random>
#include <thread>

#include "auth/password_hash.h"
#include "runtime/backoff.h"
#include "runtime/connection_options.h"
#include "runtime/logging.h"
#include "server/accounts_resource.h"
#include "server/http_metrics.h"
#include "server/images_resource.h"
#include "server/ops_resource.h"
#include "server/pistache_handler.h"
#include "server/router.h"
#include "server/services.h"
#include "server/tasks_resource.h"
#include "server/tiles_resource.h"
#include "server/waiter_pool.h"
#include "server/web_resource.h"
#include "storage/migrations.h"
#include "storage/redis_keys.h"

namespace fractal::server {
namespace {

namespace Http = Pistache::Http;
using Clock = std::chrono::steady_clock;

storage::RedisOptions redis_options(const ServerOptions& o) { return o.redis; }

storage::PgPoolOptions pg_options(const ServerOptions& o) {
  storage::PgPoolOptions p;
  p.conninfo = o.pg_conninfo;
  p.size = o.pg_pool_size > 0 ? o.pg_pool_size : static_cast<std::size_t>(std::max(1, o.threads)) + 2;
  p.statement_timeout = std::chrono::seconds(15);  // a stuck query must not hold a handler thread forever
  return p;
}

SubmitBatcherOptions submit_options(const ServerOptions& o, const storage::PgPool& pool) {
  SubmitBatcherOptions b;
  b.executors = o.submit_executors > 0 ? o.submit_executors : std::max<std::size_t>(1, pool.size() / 2);
  b.max_group = o.submit_max_group;
  b.window = o.submit_window;
  return b;
}

std::string next_request_id() {
  static const std::uint32_t prefix = std::random_device{}();
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format("{:08x}{:010x}", prefix, counter.fetch_add(1) & 0xffffffffffULL);
}

Reply reply_for_current_exception() noexcept {
  try {
    throw;
  } catch (const ApiError& e) {
    return error_reply(e);
  } catch (const storage::StorageUnavailable& e) {
    spdlog::warn("event=storage_unavailable service={} error={}", e.service(), runtime::log_value(e.what()));
    return json_reply(503, error_body("service_unavailable", e.service() + " is unavailable; retry in a moment"),
                      {{"Retry-After", "1"}});
  } catch (const std::exception& e) {
    spdlog::error("event=internal_error error={}", runtime::log_value(e.what()));
  } catch (...) {
    spdlog::error("event=internal_error error=unknown");
  }
  return json_reply(500, error_body("internal_error", "internal server error"));
}

// A response header with a name known only at run time. Pistache 0.0.5
// writes only typed headers (Header::Collection::addRaw entries are silently
// dropped from responses), so every header we send goes through this.
class DynamicHeader final : public Http::Header::Header {
 public:
  DynamicHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void parse(const std::string& data) override { value_ = data; }
  void write(std::ostream& os) const override { os << value_; }
#ifdef SAFE_HEADER_CAST
  uint64_t hash() const override { return Http::Header::detail::hash(name_.c_str()); }
#endif

 private:
  std::string name_;
  std::string value_;
};

// Turns requests into replies: size check, route lookup (404/405), handler,
// and the one place where exceptions become JSON errors.
class Dispatcher final : public RequestSink {
 public:
  Dispatcher(Router router, HttpMetrics& metrics, int waiter_threads)
      : router_(std::move(router)), metrics_(metrics), waiters_(waiter_threads) {}

  void on_request(const Http::Request& request, Http::ResponseWriter response) noexcept override {
    in_flight_.fetch_add(1);
    const auto started = Clock::now();
    std::string route = "unmatched";
    Reply reply;
    try {
      reply = dispatch(request, route);
    } catch (...) {
      reply = reply_for_current_exception();
    }
    const bool head = request.method() == Http::Method::Head;
    const std::string_view method = method_name(request.method());
    if (reply.deferred) {
      // The long wait runs on a waiter thread; this Pistache thread goes on.
      // Pistache queues writes from other threads to the connection's reactor.
      try {
        auto shared = std::make_shared<Http::ResponseWriter>(std::move(response));
        waiters_.submit([this, deferred = std::move(reply.deferred), shared, started, route, method, head,
                         path = request.resource()]() mutable {
          Reply later;
          // Pistache drops the peer when the client closes the connection.
          const std::function<bool()> client_gone = [&shared] {
            try {
              return shared->peer() == nullptr;
            } catch (...) {
              return true;
            }
          };
          try {
            later = deferred(client_gone);
          } catch (...) {
            later = reply_for_current_exception();
          }
          complete(later, *shared, started, route, method, path, head);
        });
        return;
      } catch (...) {
        reply = reply_for_current_exception();
        reply.deferred = nullptr;
      }
    }
    complete(reply, response, started, route, method, request.resource(), head);
  }

  // Writes the reply, records metrics and the log line, ends the request.
  void complete(Reply& reply, Http::ResponseWriter& response, Clock::time_point started, const std::string& route,
                std::string_view method, const std::string& path, bool head) noexcept {
    const std::string id = next_request_id();
    try {
      reply.headers.emplace_back("X-Request-Id", id);
    } catch (...) {
    }
    // Counted before the answer leaves, so a client that reads /metrics right
    // after its answer sees its own request (answers may be written from a
    // waiter thread). A file answer is counted after: opening the file can
    // still turn it into a 500.
    const bool count_first = !reply.file;
    double seconds = 0;
    auto account = [&] {
      seconds = std::chrono::duration<double>(Clock::now() - started).count();
      try {
        metrics_.observe(route, method, reply.status, seconds);
      } catch (...) {
      }
    };
    if (count_first) account();
    write(reply, response, head);
    if (!count_first) account();
    try {
      spdlog::info("event=request id={} method={} path={} route={} status={} ms={:.1f}", id, method,
                   runtime::log_value(path), route, reply.status, seconds * 1000);
    } catch (...) {
    }
    in_flight_.fetch_sub(1);
  }

  void on_rejected(int status, std::string_view code, std::string_view message) noexcept override {
    try {
      metrics_.observe_refused(status);
      spdlog::info("event=request_refused status={} code={} message={}", status, code, runtime::log_value(message));
    } catch (...) {
    }
  }

  int in_flight() const noexcept { return in_flight_.load(); }

 private:
  Reply dispatch(const Http::Request& request, std::string& route) {
    if (request.body().size() > kMaxBodyBytes) throw body_too_large();
    RouteMatch m = router_.match(request.method(), request.resource());
    if (!m.route) {
      if (m.allowed.empty()) throw not_found("no such endpoint");
      std::string allow;
      for (auto method : m.allowed) allow += (allow.empty() ? "" : ", ") + std::string(method_name(method));
      throw ApiError(405, "method_not_allowed",
                     std::string(method_name(request.method())) + " is not allowed here; allowed: " + allow, {},
                     {{"Allow", allow}});
    }
    route = m.route->pattern;
    RequestContext ctx{request, std::move(m.params)};
    return m.route->handler(ctx);
  }

  static void write(Reply& reply, Http::ResponseWriter& response, bool head) noexcept {
    try {
      for (const auto& [name, value] : reply.headers)
        response.headers().add(std::make_shared<DynamicHeader>(name, value));
      if (reply.file) {
        // sendfile from the image store: the file is never read into memory.
        Http::serveFile(response, reply.file->path.string(),
                        Http::Mime::MediaType::fromString(reply.file->content_type));
        return;
      }
      const auto code = static_cast<Http::Code>(reply.status);
      if (reply.content_type.empty() || head)  // HEAD: status and headers only
        response.send(code);
      else
        response.send(code, reply.body, Http::Mime::MediaType::fromString(reply.content_type));
      return;
    } catch (const std::exception& e) {
      spdlog::error("event=write_failed status={} error={}", reply.status, runtime::log_value(e.what()));
    }
    // Nothing was written yet when serveFile fails to open its file.
    try {
      response.headers().remove("Content-Disposition");
      response.send(Http::Code::Internal_Server_Error, error_body("internal_error", "internal server error").dump(),
                    MIME(Application, Json));
      reply.status = 500;
    } catch (...) {
    }
  }

  Router router_;
  HttpMetrics& metrics_;
  std::atomic<int> in_flight_{0};
  WaiterPool waiters_;  // last: joined first, while the rest is still there
};

template <class F>
void retry_until(std::chrono::seconds timeout, const char* what, const std::atomic<bool>& canceled, F&& f) {
  const auto deadline = Clock::now() + timeout;
  runtime::Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));  // as the worker retries
  for (int attempt = 1;; ++attempt) {
    if (canceled) throw StartupCanceled("shutdown requested during start-up");
    try {
      f();
      return;
    } catch (const storage::StorageUnavailable& e) {
      if (Clock::now() >= deadline) throw;
      spdlog::warn("event=startup_wait step={} attempt={} error={}", what, attempt, runtime::log_value(e.what()));
      const auto wake = std::min(Clock::now() + backoff.next(), deadline);
      while (!canceled && Clock::now() < wake) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

}  // namespace

Services::Services(const ServerOptions& o)
    : options(o),
      pool(pg_options(o)),
      users(pool),
      tasks(pool, storage::TaskRepoOptions{o.quota}),
      queue(redis_options(o)),
      submits(tasks, queue, submit_options(o, pool)),
      auth_kv(redis_options(o)),
      images(o.data_dir),
      metrics(redis_options(o)),
      revocations(auth_kv),
      attempts(auth_kv),
      authenticator(*o.signing_key, revocations, auth::AuthenticatorOptions{o.token_ttl, auth::kDefaultLeeway}),
      login_guard(attempts, auth::LoginGuardOptions{.key_prefix = std::string(storage::keys::kSignInPrefix)}),
      bearer(authenticator),
      tile_queue(redis_options(o), storage::TileQueueOptions{o.tile_prefix, std::string(storage::keys::kTileGroup)}) {}

struct Server::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)) {
    if (!options.signing_key) throw std::invalid_argument("ServerOptions.signing_key is required");
    if (options.threads <= 0) options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    services = std::make_unique<Services>(options);
  }

  ServerOptions options;
  std::unique_ptr<Services> services;
  HttpMetrics metrics;
  std::unique_ptr<AccountsResource> accounts;
  std::unique_ptr<TasksResource> tasks;
  std::unique_ptr<TilesResource> tiles;
  std::unique_ptr<ImagesResource> images;
  std::unique_ptr<OpsResource> ops;
  std::unique_ptr<WebResource> web;
  std::shared_ptr<Dispatcher> dispatcher;
  std::unique_ptr<Http::Endpoint> endpoint;
  std::uint16_t port = 0;
  std::atomic<bool> running{false};
  bool stopped = false;  // shutdown() completed at least once
  std::mutex lifecycle;
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  try {
    shutdown();
  } catch (...) {
  }
}

std::uint16_t Server::start() {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->running) return impl_->port;
  Impl& m = *impl_;
  Services& s = *m.services;
  // A peer that hangs up mid-answer must not kill the process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  if (m.stopped) {  // a restart after shutdown()
    s.shutting_down = false;
    m.stopped = false;
  }
  retry_until(m.options.startup_timeout, "migrate", s.shutting_down, [&] {
    const storage::MigrationReport r = storage::migrate(s.pool);
    spdlog::info("event=migrations from={} to={} applied={}", r.from_version, r.to_version, r.applied.size());
  });
  retry_until(m.options.startup_timeout, "queue_group", s.shutting_down, [&] { s.queue.ensure_group(); });
  (void)auth::default_hasher();  // the dummy hash, so the first unknown-user sign-in costs the same

  Router router;
  m.ops = std::make_unique<OpsResource>(s, m.metrics);
  m.ops->setup_routes(router);
  if (m.options.routes.auth) {
    m.accounts = std::make_unique<AccountsResource>(s);
    m.accounts->setup_routes(router);
  }
  if (m.options.routes.tasks) {
    m.tasks = std::make_unique<TasksResource>(s);
    m.tasks->setup_routes(router);
    m.tiles = std::make_unique<TilesResource>(s);  // the tile route goes with the task-master
    m.tiles->setup_routes(router);
  }
  if (m.options.routes.images) {
    m.images = std::make_unique<ImagesResource>(s);
    m.images->setup_routes(router);
  }
  m.ops->setup_openapi(router, m.web != nullptr);  // last: it documents the routes above
  if (m.options.routes.web && !m.options.web_dir.empty()) {
    m.web = std::make_unique<WebResource>(m.options.web_dir);  // GET/HEAD fallback: API routes win
    m.web->setup_routes(router);
  }
  m.dispatcher = std::make_shared<Dispatcher>(std::move(router), m.metrics, m.options.waiter_threads);

  auto handler = std::make_shared<GuardedHttpHandler>(m.dispatcher, TransportLimits{});
  const Pistache::Address address(m.options.bind, Pistache::Port(m.options.port));
  m.endpoint = std::make_unique<Http::Endpoint>(address);
  auto opts = Http::Endpoint::options()
                  .threads(m.options.threads)
                  .flags(Pistache::Tcp::Options::ReuseAddr)
                  .maxRequestSize(handler->parser_limit())
                  .maxResponseSize(64 * 1024 * 1024);
  m.endpoint->init(opts);
  m.endpoint->setHandler(handler);
  m.endpoint->serveThreaded();  // binds; throws when the port is taken
  m.port = static_cast<std::uint16_t>(m.endpoint->getPort());
  m.running = true;
  spdlog::info("event=listening bind={} port={} threads={} routes={} quota={} data_dir={} redis={}", m.options.bind,
               m.port, m.options.threads, to_string(m.options.routes), m.options.quota,
               runtime::log_value(m.options.data_dir.string()), runtime::log_value(runtime::describe(m.options.redis)));
  return m.port;
}

void Server::begin_shutdown() noexcept {
  if (!impl_->services->shutting_down.exchange(true)) spdlog::info("event=shutdown_begin");
}

void Server::shutdown() {
  std::lock_guard lock(impl_->lifecycle);
  Impl& m = *impl_;
  if (!m.running) return;
  begin_shutdown();
  if (m.options.drain.count() > 0) std::this_thread::sleep_for(m.options.drain);
  const auto deadline = Clock::now() + m.options.shutdown_timeout;
  while (m.dispatcher->in_flight() > 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (m.dispatcher->in_flight() > 0) spdlog::warn("event=shutdown_timeout in_flight={}", m.dispatcher->in_flight());
  m.endpoint->shutdown();
  m.endpoint.reset();
  m.running = false;
  m.stopped = true;
  spdlog::info("event=shutdown_done");
}

std::uint16_t Server::port() const noexcept { return impl_->port; }
bool Server::running() const noexcept { return impl_->running; }
int Server::in_flight() const noexcept { return impl_->dispatcher ? impl_->dispatcher->in_flight() : 0; }
const ServerOptions& Server::options() const noexcept { return impl_->options; }
Services& Server::services() noexcept { return *impl_->services; }

}  // namespace fractal::server
