// GET /livez, /readyz, /metrics; --routes; shutdown.
#include <regex>
#include <set>
#include <sstream>

#include "storage/metrics_store.h"
#include "tests/server/server_test_env.h"
#include "tests/support/shared_services.h"

namespace fractal::server::testing {
namespace {

TEST(Ops, Livez) {
  const Response r = get("/livez");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.j["status"], "ok");
}

TEST(Ops, ReadyzWhenPostgresAndRedisAnswer) {
  const Response r = get("/readyz");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["checks"]["postgres"], "ok");
  EXPECT_EQ(r.j["checks"]["redis"], "ok");
}

// Prometheus text format 0.0.4: every line a comment or `name{labels} value`.
struct Exposition {
  std::map<std::string, std::string> types;             // family -> type
  std::vector<std::pair<std::string, double>> samples;  // "name{labels}" -> value
  double value(const std::string& series) const {
    for (const auto& [s, v] : samples)
      if (s == series) return v;
    return -1;
  }
  bool has(const std::string& prefix) const {
    for (const auto& [s, v] : samples)
      if (s.rfind(prefix, 0) == 0) return true;
    return false;
  }
};

Exposition parse_exposition(const std::string& text) {
  Exposition e;
  const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?) ([^ ]+)( -?\d+)?)");
  const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::smatch m;
    if (line[0] == '#') {
      if (std::regex_match(line, m, type))
        e.types[m[1]] = m[2];
      else
        EXPECT_EQ(line.rfind("# HELP ", 0), 0u) << line;
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      ADD_FAILURE() << "not a sample line: " << line;
      continue;
    }
    const std::string v = m[5];
    double value = v == "+Inf" ? INFINITY : v == "-Inf" ? -INFINITY : v == "NaN" ? NAN : std::stod(v);
    e.samples.emplace_back(m[1], value);
  }
  return e;
}

TEST(Ops, MetricsIsPrometheusTextWithEveryFamily) {
  // Figures the workers would have recorded.
  storage::RedisOptions ro;
  ro.host = test::shared_redis().host();
  ro.port = test::shared_redis().port();
  storage::MetricsStore store(ro);
  store.record_render(0.3, 1.5, 5000);
  store.record_batch(3);
  store.record_redeliveries(2);
  store.record_dead_letter();
  const User u = new_user("metrics");
  add_task(u);
  get("/nope");

  const Response r = get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type").rfind("text/plain", 0), 0u) << r.header("Content-Type");
  EXPECT_NE(r.header("Content-Type").find("version=0.0.4"), std::string::npos);
  const Exposition e = parse_exposition(r.body);

  for (const char* h : {"fractal_queue_wait_seconds", "fractal_render_seconds", "fractal_batch_size",
                        "fractal_http_request_duration_seconds"}) {
    SCOPED_TRACE(h);
    EXPECT_EQ(e.types.count(h) ? e.types.at(h) : "", "histogram");
    EXPECT_TRUE(e.has(std::string(h) + "_bucket{"));
    EXPECT_TRUE(e.has(std::string(h) + "_count"));
    EXPECT_TRUE(e.has(std::string(h) + "_sum"));
  }
  EXPECT_GE(e.value("fractal_queue_wait_seconds_bucket{le=\"+Inf\"}"), 1);
  EXPECT_GE(e.value("fractal_render_seconds_count"), 1);
  EXPECT_GE(e.value("fractal_batch_size_count"), 1);
  EXPECT_EQ(e.value("fractal_queue_wait_seconds_bucket{le=\"+Inf\"}"), e.value("fractal_queue_wait_seconds_count"));
  EXPECT_GE(e.value("fractal_redeliveries_total"), 2);
  EXPECT_GE(e.value("fractal_dead_letters_total"), 1);
  EXPECT_EQ(e.types.at("fractal_redeliveries_total"), "counter");
  EXPECT_GE(e.value("fractal_tasks{status=\"queued\"}"), 1);
  for (const char* s : {"running", "done", "failed", "canceled"})
    EXPECT_GE(e.value(std::string("fractal_tasks{status=\"") + s + "\"}"), 0) << s;
  EXPECT_GE(e.value("fractal_queue_depth"), 1);
  EXPECT_TRUE(e.has("fractal_workers_alive"));
  EXPECT_EQ(e.value("fractal_dependency_up{service=\"postgres\"}"), 1);
  EXPECT_EQ(e.value("fractal_dependency_up{service=\"redis\"}"), 1);
  // Requests by route pattern and status, never by raw path.
  EXPECT_TRUE(e.has("fractal_http_requests_total{method=\"POST\",route=\"/add\",status=\"202\"}"));
  EXPECT_TRUE(e.has("fractal_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"));
  EXPECT_EQ(r.body.find("/nope"), std::string::npos);
}

TEST(Ops, RoutesGroupImagesOnly) {
  ServerOptions o = base_options();
  o.routes = RouteGroups{false, false, true};
  Server images(std::move(o));
  const std::uint16_t p = images.start();
  // A done task of a user of the main server: the same key signs tokens.
  const User u = new_user("img");
  const std::string id = add_task(u)["id"];
  finish_task(id, "png", "image-bytes");
  const Response dl = get("/download?id=" + id, u.token, p);
  EXPECT_EQ(dl.status, 200) << dl.body;
  EXPECT_EQ(dl.body, "image-bytes");
  expect_error(post_json("/add", small_task(), u.token, p), 404, "not_found");
  expect_error(get("/tasks", u.token, p), 404, "not_found");
  expect_error(post_json("/sign-up", {{"username", "x"}, {"password", "y"}}, std::nullopt, p), 404, "not_found");
  EXPECT_EQ(get("/livez", std::nullopt, p).status, 200);
  EXPECT_EQ(get("/readyz", std::nullopt, p).status, 200);
  EXPECT_EQ(get("/metrics", std::nullopt, p).status, 200);
  images.shutdown();
}

TEST(Ops, ShutdownTurnsReadyzTo503ThenStops) {
  Server s(base_options());
  const std::uint16_t p = s.start();
  ASSERT_EQ(get("/readyz", std::nullopt, p).status, 200);
  s.begin_shutdown();
  const Response r = get("/readyz", std::nullopt, p);
  expect_error(r, 503, "shutting_down");
  EXPECT_EQ(get("/livez", std::nullopt, p).status, 200);  // still serving meanwhile
  // A request in flight when shutdown() is called is answered.
  std::thread slow([&] {
    const Response up =
        post_json("/sign-up", {{"username", unique_username("late")}, {"password", kPassword}}, std::nullopt, p);
    EXPECT_EQ(up.status, 201) << up.body;
  });
  ASSERT_TRUE(wait_until([&] { return s.in_flight() > 0; }, std::chrono::seconds(5)));
  s.shutdown();
  slow.join();
  EXPECT_FALSE(s.running());
  EXPECT_THROW(raw_exchange(p, "GET /livez HTTP/1.1\r\n\r\n"), std::runtime_error);  // listener closed
}

}  // namespace
}  // namespace fractal::server::testing
