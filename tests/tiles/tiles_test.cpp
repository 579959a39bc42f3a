// GET /tiles/{z}/{x}/{y}.png end to end: the server in-process (shared
// Postgres/Redis of tests/server), a Worker in-process for the tile lane.
#include <gtest/gtest.h>

#include <OpenImageIO/imageio.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <condition_variable>
#include <future>
#include <mutex>
#include <algorithm>
#include <cstdio>
#include <set>
#include <thread>

#include "kernels/render_task.h"
#include "kernels/tile_view.h"
#include "scheduler/worker.h"
#include "server/services.h"
#include "server/tiles_resource.h"
#include "tests/server/server_test_env.h"
#include "tests/support/shared_services.h"

namespace fractal::server::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- helpers

std::vector<unsigned char> decode_png(const std::string& bytes, int* width = nullptr, int* height = nullptr) {
  static std::atomic<int> counter{0};
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("tile-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".png");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  std::vector<unsigned char> pixels;
  auto in = OIIO::ImageInput::open(path.string());
  if (in) {
    const OIIO::ImageSpec& spec = in->spec();
    if (width) *width = spec.width;
    if (height) *height = spec.height;
    pixels.resize(static_cast<std::size_t>(spec.width) * spec.height * spec.nchannels);
    if (!in->read_image(0, 0, 0, spec.nchannels, OIIO::TypeDesc::UINT8, pixels.data())) pixels.clear();
    in->close();
  }
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return pixels;
}

// The POST /add render of a body, in-process on the CPU backend.
ImageBuffer reference_render(const json& body) {
  const ParseResult parsed = parse_task_spec(body);
  EXPECT_TRUE(parsed.ok()) << (parsed.error ? parsed.error->message : "");
  static std::unique_ptr<Renderer> renderer = make_renderer(BackendKind::cpu, {.threads = 2});
  TaskRun run(*parsed.spec);
  TaskRun* runs[] = {&run};
  render_tasks(*renderer, runs);
  return std::move(run.image);
}

json add_body_of_tile(int z, std::uint64_t x, std::uint64_t y, json extra) {
  const bool julia = extra.value("fractal", "mandelbrot") == "julia";
  const TileView v = tile_view(julia ? FractalKind::julia : FractalKind::mandelbrot, z, x, y);
  json body = std::move(extra);
  body["width"] = 256;
  body["height"] = 256;
  body["scale"] = v.scale;
  body["center"] = json::array({v.center_re, v.center_im});
  return body;
}

std::string tile_path(int z, std::uint64_t x, std::uint64_t y, const std::string& query = "") {
  return "/tiles/" + std::to_string(z) + "/" + std::to_string(x) + "/" + std::to_string(y) + ".png" +
         (query.empty() ? "" : "?" + query);
}

// A renderer that holds every render call until open() (or until a job is
// canceled): keeps the task lane of a worker busy for as long as a test needs.
class HeldRenderer : public Renderer {
 public:
  HeldRenderer() : inner_(make_renderer(BackendKind::cpu, {.threads = 1})) {}
  std::string name() const override { return "held:" + inner_->name(); }
  void render(std::span<RenderJob> jobs) override {
    {
      std::unique_lock lock(mutex_);
      held_ = true;
      changed_.notify_all();
      while (!open_) {
        bool canceled = false;
        for (const auto& j : jobs) canceled = canceled || (j.cancel && j.cancel->load());
        if (canceled) break;
        changed_.wait_for(lock, 20ms);
      }
    }
    inner_->render(jobs);
  }
  bool wait_held(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return held_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::unique_ptr<Renderer> inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false, open_ = false;
};

class TilesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& w : workers_) {
      w.worker->stop();
      if (w.thread.joinable()) w.thread.join();
    }
    workers_.clear();
  }

  scheduler::WorkerOptions worker_options(const std::string& name) {
    scheduler::WorkerOptions o;
    o.pg_conninfo = test::shared_postgres().conninfo();
    o.redis.host = test::shared_redis().host();
    o.redis.port = test::shared_redis().port();
    o.data_dir = data_dir();
    o.name = name;
    o.backend = BackendKind::cpu;
    o.threads = 2;
    o.block = 100ms;
    o.claim_timeout = 5s;
    o.reconcile_interval = 60s;
    o.drain_timeout = 1s;
    o.heartbeat_interval = 500ms;
    return o;
  }

  scheduler::Worker& start_worker(scheduler::WorkerOptions o) {
    (void)server();  // migrations and the queue group first
    Running r;
    r.worker = std::make_unique<scheduler::Worker>(std::move(o));
    scheduler::Worker* raw = r.worker.get();
    r.thread = std::thread([raw] {
      try {
        raw->run();
      } catch (const std::exception& e) {
        ADD_FAILURE() << "worker: " << e.what();
      }
    });
    workers_.push_back(std::move(r));
    EXPECT_TRUE(wait_until([raw] { return raw->started(); }, 20s));
    return *raw;
  }

  struct Running {
    std::unique_ptr<scheduler::Worker> worker;
    std::thread thread;
  };
  std::vector<Running> workers_;
};

// A second server on the shared Postgres/Redis with its own options.
std::unique_ptr<Server> start_server(const std::function<void(ServerOptions&)>& tweak) {
  (void)server();
  ServerOptions o = base_options();
  tweak(o);
  auto s = std::make_unique<Server>(std::move(o));
  s->start();
  return s;
}

// ---- the query: unit level (no services)

TEST(TileQueryUnit, PyramidMapping) {
  TileView v = tile_view(FractalKind::mandelbrot, 0, 0, 0);
  EXPECT_EQ(v.center_re, -0.5);
  EXPECT_EQ(v.center_im, 0.0);
  EXPECT_EQ(v.scale, 4.0);
  v = tile_view(FractalKind::mandelbrot, 1, 0, 0);
  EXPECT_EQ(v.center_re, -1.5);
  EXPECT_EQ(v.center_im, 1.0);
  EXPECT_EQ(v.scale, 2.0);
  v = tile_view(FractalKind::julia, 2, 3, 1);
  EXPECT_EQ(v.center_re, -2 + 3.5);
  EXPECT_EQ(v.center_im, 2 - 1.5);
  EXPECT_EQ(v.scale, 1.0);
}

void expect_api_error(const std::function<void()>& f, int status, const std::string& code, const std::string& field) {
  try {
    f();
    ADD_FAILURE() << "no error; expected " << status << " " << code << " naming " << field;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), status) << e.what();
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(TileQueryUnit, ErrorsNameTheParameter) {
  using Q = std::vector<std::pair<std::string, std::string>>;
  auto parse = [](std::string z, std::string x, std::string y, Q q = {}) {
    return [=] { (void)parse_tile_query(z, x, y, q); };
  };
  expect_api_error(parse("-1", "0", "0.png"), 400, "invalid_parameter", "z");
  expect_api_error(parse("a", "0", "0.png"), 400, "invalid_parameter", "z");
  expect_api_error(parse("1.5", "0", "0.png"), 400, "invalid_parameter", "z");
  expect_api_error(parse("1", "2", "0.png"), 400, "invalid_parameter", "x");
  expect_api_error(parse("1", "-1", "0.png"), 400, "invalid_parameter", "x");
  expect_api_error(parse("1", "0", "2.png"), 400, "invalid_parameter", "y");
  expect_api_error(parse("1", "0", "0.jpg"), 400, "invalid_parameter", "y");
  expect_api_error(parse("1", "0", "x.png"), 400, "invalid_parameter", "y");
  expect_api_error(parse("1", "0", "0.png", {{"width", "10"}}), 400, "invalid_parameter", "width");
  expect_api_error(parse("1", "0", "0.png", {{"colour", "x"}}), 400, "invalid_parameter", "colour");
  expect_api_error(parse("1", "0", "0.png", {{"coloring", "histogram"}}), 400, "invalid_parameter", "coloring");
  expect_api_error(parse("1", "0", "0.png", {{"fractal", "julia"}}), 400, "invalid_parameter", "julia_c");
  expect_api_error(parse("1", "0", "0.png", {{"julia_c", "0.1,0.2"}}), 400, "invalid_parameter", "julia_c");
  expect_api_error(parse("1", "0", "0.png", {{"fractal", "julia"}, {"julia_c", "0.1"}}), 400, "invalid_parameter",
                   "julia_c");
  expect_api_error(parse("1", "0", "0.png", {{"max_iter", "abc"}}), 400, "invalid_parameter", "max_iter");
  expect_api_error(parse("1", "0", "0.png", {{"max_iter", "0"}}), 400, "invalid_parameter", "max_iter");
  expect_api_error(parse("1", "0", "0.png", {{"palette", "nope"}}), 400, "invalid_parameter", "palette");
  expect_api_error(parse("1", "0", "0.png", {{"palette", "#ff0000"}}), 400, "invalid_parameter", "palette");
  expect_api_error(parse("1", "0", "0.png", {{"precision", "quad"}}), 400, "invalid_parameter", "precision");
  expect_api_error(parse("33300", "0", "0.png"), 422, "zoom_too_deep", "z");
  expect_api_error(parse("999999999", "0", "0.png"), 422, "zoom_too_deep", "z");
  expect_api_error(parse("70", "1180591620717411303424", "0.png"), 400, "invalid_parameter", "x");  // 2^70
  EXPECT_NO_THROW((void)parse_tile_query("36", "0", "0.png", {}));
  // Deep levels: exact decimal centres, indices beyond 64 bits.
  const auto deep = parse_tile_query("70", "1180591620717411303423", "5.png", {});
  EXPECT_EQ(deep.spec.precision, Precision::deep);
  EXPECT_FALSE(deep.spec.center[0].text.empty());
  EXPECT_EQ(deep.params["scale"], json(std::ldexp(4.0, -70)));
  // re = -2.5 + (2x + 1) * 2^-69 with x = 2^70 - 1: 1.5 - 2^-69 exactly
  EXPECT_EQ(deep.params["center"][0], json("1.499999999999999999998305934105491399321863354998640716075897216796875e0"));
}

TEST(TileQueryUnit, EqualParametersSpelledDifferentlyShareAKey) {
  using Q = std::vector<std::pair<std::string, std::string>>;
  const auto a = parse_tile_query("3", "2", "5.png", {});
  const auto b = parse_tile_query("3", "2", "5.png",
                                  Q{{"max_iter", "500"}, {"palette", "classic"}, {"coloring", "smooth"},
                                    {"precision", "auto"}, {"fractal", "mandelbrot"}});
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.etag, b.etag);
  const auto c = parse_tile_query("3", "2", "5.png", Q{{"fractal", "julia"}, {"julia_c", "-0.8,0.156"}});
  const auto d = parse_tile_query("3", "2", "5.png", Q{{"julia_c", "-0.80, 0.1560"}, {"fractal", "julia"}});
  EXPECT_EQ(c.key, d.key);
  const auto e = parse_tile_query("3", "2", "5.png", Q{{"palette", "%23FF0000,%2300ff00"}});
  const auto f = parse_tile_query("3", "2", "5.png", Q{{"palette", "#ff0000,#00FF00"}});
  EXPECT_EQ(e.key, f.key);
  EXPECT_NE(a.key, parse_tile_query("3", "2", "4.png", {}).key);
  EXPECT_NE(a.key, parse_tile_query("3", "2", "5.png", Q{{"max_iter", "501"}}).key);
  EXPECT_TRUE(etag_matches(a.etag, a.etag));
  EXPECT_TRUE(etag_matches("\"x\", W/" + a.etag, a.etag));
  EXPECT_TRUE(etag_matches("*", a.etag));
  EXPECT_FALSE(etag_matches("\"x\"", a.etag));
}

// ---- over HTTP

TEST_F(TilesTest, NeedsABearerToken) {
  const Response r = get(tile_path(0, 0, 0));
  expect_error(r, 401, "unauthorized");
  EXPECT_FALSE(r.header("WWW-Authenticate").empty());
  expect_error(get(tile_path(0, 0, 0), std::string("not-a-token")), 401, "invalid_token");
}

TEST_F(TilesTest, BadRequestsNameTheParameter) {
  const User u = new_user("tb");
  const std::pair<std::string, std::string> cases[] = {
      {tile_path(1, 2, 0), "x"},
      {"/tiles/1/0/2.png", "y"},
      {"/tiles/-1/0/0.png", "z"},
      {"/tiles/a/0/0.png", "z"},
      {"/tiles/1/0/0.5.png", "y"},
      {tile_path(1, 0, 0, "foo=1"), "foo"},
      {tile_path(1, 0, 0, "coloring=histogram"), "coloring"},
      {tile_path(1, 0, 0, "fractal=julia"), "julia_c"},
      {tile_path(1, 0, 0, "max_iter=lots"), "max_iter"},
      {tile_path(1, 0, 0, "palette=%23ff0000"), "palette"},
  };
  for (const auto& [path, field] : cases) {
    const Response r = get(path, u.token);
    expect_error(r, 400, "invalid_parameter");
    EXPECT_NE(r.j["error"]["message"].get<std::string>().find(field), std::string::npos) << path << " " << r.body;
  }
  const Response deep = get(tile_path(40000, 0, 0), u.token);
  expect_error(deep, 422, "zoom_too_deep");
}

TEST_F(TilesTest, TileEqualsThePostAddRenderOfItsView) {
  start_worker(worker_options("tiles-pixels"));
  const User u = new_user("tp");
  struct Case {
    int z;
    std::uint64_t x, y;
    std::string query;
    json extra;
  };
  const Case cases[] = {
      {0, 0, 0, "", json::object()},
      {2, 1, 1, "max_iter=200&palette=fire&coloring=bands", {{"max_iter", 200}, {"palette", "fire"}, {"coloring", "bands"}}},
      {5, 9, 13, "precision=double", {{"precision", "double"}}},
      {1, 1, 0, "fractal=julia&julia_c=-0.8,0.156&max_iter=300",
       {{"fractal", "julia"}, {"julia_c", {-0.8, 0.156}}, {"max_iter", 300}}},
      {9, 300, 200, "fractal=julia&julia_c=0.285,0.01&palette=%23000000,%23ffcc00",
       {{"fractal", "julia"}, {"julia_c", {0.285, 0.01}}, {"palette", {"#000000", "#ffcc00"}}}},
  };
  for (const auto& c : cases) {
    const Response r = get(tile_path(c.z, c.x, c.y, c.query), u.token);
    ASSERT_EQ(r.status, 200) << c.query << " " << r.body;
    EXPECT_EQ(r.header("Content-Type"), "image/png");
    int w = 0, h = 0;
    const auto pixels = decode_png(r.body, &w, &h);
    ASSERT_EQ(w, 256);
    ASSERT_EQ(h, 256);
    const ImageBuffer ref = reference_render(add_body_of_tile(c.z, c.x, c.y, c.extra));
    ASSERT_EQ(ref.type, PixelType::u8);
    ASSERT_EQ(pixels.size(), ref.data.size());
    EXPECT_TRUE(pixels == ref.data) << "tile " << c.z << "/" << c.x << "/" << c.y << " " << c.query;
  }
}

TEST_F(TilesTest, TileEqualsTheDownloadOfThePostAddTask) {
  start_worker(worker_options("tiles-e2e"));
  const User u = new_user("te");
  const json extra = {{"fractal", "julia"}, {"julia_c", {-0.4, 0.6}}, {"max_iter", 400}, {"coloring", "bands"}};
  const Response tile = get(tile_path(3, 5, 2, "fractal=julia&julia_c=-0.4,0.6&max_iter=400&coloring=bands"), u.token);
  ASSERT_EQ(tile.status, 200) << tile.body;
  const json task = add_task(u, add_body_of_tile(3, 5, 2, extra));
  const std::string id = task.value("id", "");
  ASSERT_FALSE(id.empty()) << task.dump();
  ASSERT_TRUE(wait_until([&] { return get("/tasks/" + id, u.token).j.value("status", "") == "done"; }, 30s));
  const Response file = get("/download?id=" + id, u.token);
  ASSERT_EQ(file.status, 200);
  const auto want = decode_png(file.body), got = decode_png(tile.body);
  ASSERT_EQ(want.size(), 256u * 256 * 3);
  EXPECT_TRUE(want == got);
}

TEST_F(TilesTest, DeepTileEqualsTheRenderOfItsExactView) {
  start_worker(worker_options("tiles-deep"));
  const User u = new_user("td");
  // z = 48 with a corner at the Misiurewicz point c = i (structure at every depth):
  // past what double resolves (precision auto picks deep).
  const std::string x = "175921860444160", y = "70368744177664";
  const Response r = get("/tiles/48/" + x + "/" + y + ".png?max_iter=1000", u.token);
  ASSERT_EQ(r.status, 200) << r.body;
  const TileViewJson view = tile_view_json(FractalKind::mandelbrot, 48, x, y);
  const ImageBuffer ref = reference_render(
      {{"width", 256}, {"height", 256}, {"center", view.center}, {"scale", view.scale}, {"max_iter", 1000}});
  const auto got = decode_png(r.body);
  EXPECT_TRUE(got == ref.data);
  std::set<std::array<unsigned char, 3>> colours;
  for (std::size_t i = 0; i + 2 < got.size(); i += 3) colours.insert({got[i], got[i + 1], got[i + 2]});
  EXPECT_GT(colours.size(), 10u) << "first pixel " << int(got[0]) << "," << int(got[1]) << "," << int(got[2]);
}

// Issue 12: a deep task's object says its reference orbit length, BLA skip
// ratio and time in the orbit vs per-pixel work ("deep", docs/api.md); a
// shallow one has "deep": null. Through POST /add, the worker and GET /tasks.
TEST_F(TilesTest, DeepTaskObjectCarriesItsOrbitAndBlaFigures) {
  start_worker(worker_options("tasks-deep"));
  const User u = new_user("tdeep");
  const json deep_task = add_task(u, {{"width", 64}, {"height", 48}, {"max_iter", 2000},
                                      {"center", {"0", "1"}},
                                      {"scale", "3e-20"}});
  const json shallow_task = add_task(u, {{"width", 64}, {"height", 48}, {"max_iter", 200}});
  const std::string deep_id = deep_task.value("id", ""), shallow_id = shallow_task.value("id", "");
  ASSERT_FALSE(deep_id.empty()) << deep_task.dump();
  ASSERT_FALSE(shallow_id.empty()) << shallow_task.dump();
  EXPECT_EQ(deep_task["deep"], nullptr);  // queued: nothing measured yet
  json d, s;
  ASSERT_TRUE(wait_until(
      [&] {
        d = get("/tasks/" + deep_id, u.token).j;
        s = get("/tasks/" + shallow_id, u.token).j;
        return d.value("status", "") == "done" && s.value("status", "") == "done";
      },
      60s))
      << d.dump() << "\n" << s.dump();
  EXPECT_EQ(d["precision_used"], "deep");
  ASSERT_TRUE(d["deep"].is_object()) << d.dump();
  const json& f = d["deep"];
  for (const char* key :
       {"reference_length", "references", "orbit_cache_hits", "orbit_ms", "pixel_ms", "bla_skip_ratio", "rebases",
        "runner"})
    EXPECT_TRUE(f.contains(key)) << key << " missing in " << f.dump();
  const std::string runner = f.value("runner", "");
  EXPECT_TRUE(runner == "cpu" || runner.rfind("cuda:", 0) == 0) << f.dump();
  // c = i is a Misiurewicz point: its orbit never escapes, so the reference runs to max_iter.
  EXPECT_GE(f["reference_length"].get<int>(), 2000) << f.dump();
  EXPECT_LE(f["reference_length"].get<int>(), 2001) << f.dump();
  EXPECT_GE(f["references"].get<int>(), 1);
  EXPECT_GE(f["orbit_ms"].get<double>(), 0.0);
  EXPECT_GT(f["pixel_ms"].get<double>(), 0.0);
  const double skip = f["bla_skip_ratio"].get<double>();
  EXPECT_GT(skip, 0.0) << f.dump();  // BLA steps did part of the work (about 22 % here)
  EXPECT_LE(skip, 1.0);
  EXPECT_LE(f["orbit_ms"].get<double>() + f["pixel_ms"].get<double>(), d["render_ms"].get<double>() + 1.0)
      << f.dump() << " render_ms " << d["render_ms"];
  // The list carries it too; a shallow task never does.
  const json list = get("/tasks", u.token).j;
  for (const json& t : list["tasks"]) {
    if (t["id"] == deep_id) {
      EXPECT_EQ(t["deep"], f);
    }
  }
  EXPECT_NE(s["precision_used"], "deep");
  ASSERT_TRUE(s.contains("deep")) << s.dump();
  EXPECT_EQ(s["deep"], nullptr) << s.dump();
}

TEST_F(TilesTest, NeighbouringTilesContinueEachOther) {
  start_worker(worker_options("tiles-seam"));
  const User u = new_user("ts");
  // Tiles (2,1,1) and (2,2,1) side by side are the 512x256 render of their union.
  const Response left = get(tile_path(2, 1, 1, "max_iter=300"), u.token);
  const Response right = get(tile_path(2, 2, 1, "max_iter=300"), u.token);
  ASSERT_EQ(left.status, 200);
  ASSERT_EQ(right.status, 200);
  const auto l = decode_png(left.body), r = decode_png(right.body);
  ASSERT_EQ(l.size(), 256u * 256 * 3);
  ASSERT_EQ(r.size(), l.size());
  const TileView a = tile_view(FractalKind::mandelbrot, 2, 1, 1);
  const ImageBuffer both = reference_render({{"width", 512},
                                             {"height", 256},
                                             {"scale", 2 * a.scale},
                                             {"center", {a.center_re + a.scale / 2, a.center_im}},
                                             {"max_iter", 300}});
  std::size_t same = 0, total = 0;
  for (int j = 0; j < 256; ++j)
    for (int i = 0; i < 512; ++i) {
      const unsigned char* want = both.data.data() + (static_cast<std::size_t>(j) * 512 + i) * 3;
      const unsigned char* got = (i < 256 ? l.data() : r.data()) + (static_cast<std::size_t>(j) * 256 + i % 256) * 3;
      same += std::equal(want, want + 3, got) ? 1 : 0;
      ++total;
    }
  // The same formula; only last-bit rounding of the pixel positions differs.
  EXPECT_GE(static_cast<double>(same) / total, 0.999) << same << "/" << total;
}

TEST_F(TilesTest, EtagNotModifiedAndCacheHits) {
  auto& w = start_worker(worker_options("tiles-cache"));
  const User u = new_user("tc");
  const std::string path = tile_path(3, 4, 2, "max_iter=123");
  const Response first = get(path, u.token);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("X-Cache"), "miss");
  EXPECT_EQ(first.header("Cache-Control"), "private, max-age=86400");
  const std::string etag = first.header("ETag");
  ASSERT_GE(etag.size(), 3u);
  EXPECT_EQ(etag.front(), '"');
  EXPECT_NE(etag.substr(0, 2), "W/");

  const Response second = get(path, u.token);
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(second.header("X-Cache"), "hit");
  EXPECT_EQ(second.header("ETag"), etag);
  EXPECT_EQ(second.body, first.body);

  // Another user, parameters spelled differently: the same entry.
  const User other = new_user("tc2");
  const Response spelled = get(tile_path(3, 4, 2, "precision=auto&max_iter=123&palette=classic&fractal=mandelbrot"),
                               other.token);
  ASSERT_EQ(spelled.status, 200);
  EXPECT_EQ(spelled.header("X-Cache"), "hit");
  EXPECT_EQ(spelled.header("ETag"), etag);
  EXPECT_EQ(w.tile_counters().tiles_rendered, 1);

  Request conditional;
  conditional.path = path;
  conditional.token = u.token;
  conditional.headers = {{"If-None-Match", etag}};
  const Response not_modified = send(conditional);
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.header("ETag"), etag);
  EXPECT_TRUE(not_modified.body.empty());
  conditional.headers = {{"If-None-Match", "\"something-else\""}};
  EXPECT_EQ(send(conditional).status, 200);

  // Tiles are not tasks.
  const Response tasks = get("/tasks", u.token);
  ASSERT_EQ(tasks.status, 200);
  EXPECT_TRUE(tasks.j["tasks"].empty());

  const Response stats = get("/stats", u.token);
  ASSERT_EQ(stats.status, 200);
  ASSERT_TRUE(stats.j.contains("tiles")) << stats.body;
  EXPECT_GE(stats.j["tiles"]["cache_entries"].get<int>(), 1);
  EXPECT_GE(stats.j["tiles"]["rendered"].get<int>(), 1);
  const Response metrics = get("/metrics");
  EXPECT_NE(metrics.body.find("fractal_tile_requests_total{outcome=\"hit\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("fractal_tile_miss_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.body.find("fractal_tiles_rendered_total"), std::string::npos);
}

TEST_F(TilesTest, BusyWhenNoWorkerAnswers) {
  auto s = start_server([](ServerOptions& o) { o.tile_timeout = 600ms; });
  const User u = new_user("tn");
  const auto t0 = Clock::now();
  const Response r = get(tile_path(4, 3, 3, "max_iter=77"), u.token, s->port());
  const auto took = Clock::now() - t0;
  expect_error(r, 503, "busy");
  EXPECT_FALSE(r.header("Retry-After").empty());
  EXPECT_LT(took, test::sanitizer_scaled(3s));
  EXPECT_GE(took, 500ms);
  // The request was dropped by the worker that comes later, not rendered.
  auto& w = start_worker(worker_options("tiles-late"));
  EXPECT_TRUE(wait_until([&] { return w.tile_counters().tiles_dropped >= 1; }, 5s));
  EXPECT_EQ(w.tile_counters().tiles_rendered, 0);
}

TEST_F(TilesTest, ConcurrentMissesRenderOnce) {
  auto s = start_server([](ServerOptions& o) { o.threads = 2; });
  auto& w = start_worker(worker_options("tiles-flight"));
  const User u = new_user("tf");
  const std::string path = tile_path(6, 20, 30, "max_iter=999&coloring=bands");
  std::vector<std::future<Response>> answers;
  for (int i = 0; i < 40; ++i)
    answers.push_back(std::async(std::launch::async, [&] { return get(path, u.token, s->port()); }));
  std::set<std::string> bodies;
  for (auto& f : answers) {
    const Response r = f.get();
    EXPECT_EQ(r.status, 200) << r.body;
    bodies.insert(r.body);
  }
  EXPECT_EQ(bodies.size(), 1u);
  EXPECT_EQ(w.tile_counters().tiles_rendered, 1);
}

TEST_F(TilesTest, TileGoesAheadOfQueuedTasks) {
  auto held = std::make_shared<HeldRenderer>();
  auto o = worker_options("tiles-ahead");
  o.renderer = held;  // the task lane: stuck in its render call until open()
  auto& w = start_worker(o);
  const User u = new_user("ta");
  for (int i = 0; i < 20; ++i) add_task(u, {{"width", 64}, {"height", 64}, {"max_iter", 100 + i}});
  ASSERT_TRUE(held->wait_held(20s));
  const auto t0 = Clock::now();
  const Response r = get(tile_path(2, 2, 2, "max_iter=250"), u.token);
  const auto took = Clock::now() - t0;
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_LT(took, test::sanitizer_scaled(2s));
  EXPECT_EQ(w.tile_counters().tiles_rendered, 1);
  held->open();
}

TEST_F(TilesTest, TooManyInFlightForOneUser) {
  auto s = start_server([](ServerOptions& o) {
    o.threads = 2;
    o.tile_timeout = 1500ms;
    o.tile_max_in_flight = 2;
  });
  const User u = new_user("tm");
  std::vector<std::future<Response>> answers;
  for (int i = 0; i < 4; ++i)
    answers.push_back(std::async(std::launch::async, [&, i] {
      return get(tile_path(7, 10 + i, 10, "max_iter=55"), u.token, s->port());
    }));
  int too_many = 0, busy = 0;
  for (auto& f : answers) {
    const Response r = f.get();
    if (r.status == 429) {
      ++too_many;
      expect_error(r, 429, "too_many_requests");
      EXPECT_FALSE(r.header("Retry-After").empty());
    } else {
      ++busy;
      expect_error(r, 503, "busy");
    }
  }
  EXPECT_EQ(too_many, 2);
  EXPECT_EQ(busy, 2);
}

TEST_F(TilesTest, AnAbortedTileFetchFreesItsPlaceAtOnce) {
  // A browser aborts the fetches of tiles zoomed past (over HTTP/1.1: it
  // closes the connection). Their places in the user's in-flight limit must
  // come back then, not after the render timeout, or fast zooming meets 429s.
  auto s = start_server([](ServerOptions& o) {
    o.threads = 2;
    o.tile_timeout = 8000ms;  // no worker runs: every miss would wait this long
    o.tile_max_in_flight = 2;
  });
  const User u = new_user("ab");
  const auto raw_get = [&](std::uint64_t x, std::chrono::milliseconds wait) {
    return raw_exchange(s->port(),
                        "GET " + tile_path(9, x, 7, "max_iter=61") + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                            u.token + "\r\n\r\n",
                        wait);
  };
  // Two misses (the limit), abandoned after 300 ms without an answer.
  auto a = std::async(std::launch::async, [&] { return raw_get(1, 300ms); });
  auto b = std::async(std::launch::async, [&] { return raw_get(2, 300ms); });
  EXPECT_EQ(a.get(), "");
  EXPECT_EQ(b.get(), "");
  std::this_thread::sleep_for(500ms);
  // A third tile now waits for its render instead of being refused at once.
  const std::string third = raw_get(3, 600ms);
  EXPECT_EQ(third.find("429"), std::string::npos) << third.substr(0, 200);
  EXPECT_EQ(third, "");
}

TEST_F(TilesTest, CacheStaysWithinItsByteBound) {
  constexpr std::int64_t kBound = 40'000;
  auto s = start_server([](ServerOptions& o) { o.tile_cache_bytes = kBound; });
  start_worker(worker_options("tiles-bound"));
  const User u = new_user("tcb");
  std::int64_t total = 0;
  for (std::uint64_t x = 0; x < 8; ++x) {
    const Response r = get(tile_path(3, x, 3, "max_iter=90"), u.token, s->port());
    ASSERT_EQ(r.status, 200);
    total += static_cast<std::int64_t>(r.body.size());
  }
  ASSERT_GT(total, kBound);  // filled past its bound
  const storage::TileCacheStats st = s->services().tile_queue.stats();
  EXPECT_LE(st.bytes, kBound);
  EXPECT_LT(st.entries, 8);
  EXPECT_GT(st.entries, 0);
  // The most recent tile is still there; the first one went.
  EXPECT_EQ(get(tile_path(3, 7, 3, "max_iter=90"), u.token, s->port()).header("X-Cache"), "hit");
  EXPECT_EQ(get(tile_path(3, 0, 3, "max_iter=90"), u.token, s->port()).header("X-Cache"), "miss");
}

TEST_F(TilesTest, WorkerGoingAwayMidBurstLeavesNoRequestHanging) {
  auto s = start_server([](ServerOptions& o) {
    o.threads = 2;
    o.tile_timeout = 2s;
  });
  auto& w = start_worker(worker_options("tiles-gone"));
  const User u = new_user("tg");
  std::vector<std::future<std::pair<Response, Clock::duration>>> answers;
  for (std::uint64_t i = 0; i < 32; ++i)
    answers.push_back(std::async(std::launch::async, [&, i] {
      const auto t0 = Clock::now();
      Response r = get(tile_path(6, i, 17, "max_iter=2000"), u.token, s->port());
      return std::make_pair(std::move(r), Clock::now() - t0);
    }));
  std::this_thread::sleep_for(50ms);
  w.stop();  // the worker leaves mid-burst; nothing else renders tiles
  int ok = 0, busy = 0;
  for (auto& f : answers) {
    auto [r, took] = f.get();
    EXPECT_LT(took, test::sanitizer_scaled(5s));
    if (r.status == 200) {
      ++ok;
    } else {
      ++busy;
      expect_error(r, 503, "busy");
      EXPECT_FALSE(r.header("Retry-After").empty());
    }
  }
  EXPECT_EQ(ok + busy, 32);
  EXPECT_EQ(get("/readyz", std::nullopt, s->port()).status, 200);
}

// Not a benchmark (bench/ is): figures of one burst on this machine, printed
// for the record, with bounds loose enough for a loaded CI box.
TEST_F(TilesTest, BurstLatencyFigures) {
  auto s = start_server([](ServerOptions& o) { o.threads = 2; });
  auto& w = start_worker(worker_options("tiles-burst"));
  const User u = new_user("tl");
  auto burst = [&](std::vector<double>& each) {
    std::vector<std::future<std::pair<int, double>>> answers;
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < 48; ++i)
      answers.push_back(std::async(std::launch::async, [&, i] {
        const auto a = Clock::now();
        const Response r = get(tile_path(4, i % 16, 4 + i / 16, "max_iter=200"), u.token, s->port());
        return std::make_pair(r.status, std::chrono::duration<double>(Clock::now() - a).count());
      }));
    for (auto& f : answers) {
      auto [status, seconds] = f.get();
      EXPECT_EQ(status, 200);
      each.push_back(seconds);
    }
    std::sort(each.begin(), each.end());
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  std::vector<double> cold, warm;
  const double cold_total = burst(cold);
  const double warm_total = burst(warm);
  auto pct = [](const std::vector<double>& v, double p) { return v[static_cast<std::size_t>(p * (v.size() - 1))]; };
  std::printf("tiles burst of 48 (z=4, max_iter 200, CPU x2): cold p50 %.1f ms p99 %.1f ms whole %.1f ms; "
              "warm p50 %.1f ms p99 %.1f ms whole %.1f ms\n",
              pct(cold, 0.5) * 1e3, pct(cold, 0.99) * 1e3, cold_total * 1e3, pct(warm, 0.5) * 1e3,
              pct(warm, 0.99) * 1e3, warm_total * 1e3);
  std::vector<double> single_miss, single_hit;
  for (std::uint64_t i = 0; i < 10; ++i) {
    auto a = Clock::now();
    EXPECT_EQ(get(tile_path(5, i, 9, "max_iter=200"), u.token, s->port()).status, 200);
    single_miss.push_back(std::chrono::duration<double>(Clock::now() - a).count());
    a = Clock::now();
    EXPECT_EQ(get(tile_path(5, i, 9, "max_iter=200"), u.token, s->port()).header("X-Cache"), "hit");
    single_hit.push_back(std::chrono::duration<double>(Clock::now() - a).count());
  }
  std::sort(single_miss.begin(), single_miss.end());
  std::sort(single_hit.begin(), single_hit.end());
  std::printf("one at a time (new connection each): miss p50 %.1f ms, hit p50 %.2f ms\n", pct(single_miss, 0.5) * 1e3,
              pct(single_hit, 0.5) * 1e3);
  const scheduler::TileCounters c = w.tile_counters();
  std::printf("render calls %lld for %lld tiles, largest batch %lld\n", static_cast<long long>(c.render_calls),
              static_cast<long long>(c.tiles_rendered), static_cast<long long>(c.largest_batch));
  EXPECT_LT(cold_total, 10.0);
  EXPECT_LT(pct(warm, 0.5), pct(cold, 0.5));
}

}  // namespace
}  // namespace fractal::server::testing
