// POST /add, GET /tasks, GET /tasks/<id>, POST /delete, DELETE /tasks/<id>,
// GET /palettes, GET /stats; isolation between users; idempotency; quota.
#include <regex>
#include <set>

#include "kernels/color/palette.h"
#include "server/services.h"
#include "storage/image_store.h"
#include "storage/redis.h"
#include "tests/server/server_test_env.h"
#include "tests/support/shared_services.h"

namespace fractal::server::testing {
namespace {

const std::regex kRfc3339Utc(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)");
const std::string kUnknownId = "00000000-0000-4000-8000-000000000000";

void expect_task_object(const json& t) {
  for (const char* key : {"id", "status", "progress", "params", "created_at", "started_at", "finished_at", "error",
                          "backend", "render_ms", "iterations", "download_url", "precision_used", "deep"})
    EXPECT_TRUE(t.contains(key)) << key << " missing in " << t.dump();
  EXPECT_TRUE(std::regex_match(t["created_at"].get<std::string>(), kRfc3339Utc)) << t.dump();
}

TEST(Add, Returns202WithLocationAndTheTaskObject) {
  const User u = new_user("adder");
  const Response r = post_json("/add", {{"width", 32}, {"height", 24}, {"max_iter", 64}}, u.token);
  ASSERT_EQ(r.status, 202) << r.body;
  const json& t = r.j;
  expect_task_object(t);
  EXPECT_EQ(r.header("Location"), "/tasks/" + t["id"].get<std::string>());
  EXPECT_EQ(t["status"], "queued");
  EXPECT_EQ(t["progress"], 0.0);
  EXPECT_EQ(t["started_at"], nullptr);
  EXPECT_EQ(t["finished_at"], nullptr);
  EXPECT_EQ(t["error"], nullptr);
  EXPECT_EQ(t["backend"], nullptr);
  EXPECT_EQ(t["download_url"], nullptr);
  EXPECT_EQ(t["precision_used"], "float");  // max_iter 64 at a coarse spacing: the auto rule picks float
  // Every field echoed with its default filled in.
  const json& p = t["params"];
  EXPECT_EQ(p["fractal"], "mandelbrot");
  EXPECT_EQ(p["width"], 32);
  EXPECT_EQ(p["height"], 24);
  EXPECT_EQ(p["center"], json::array({-0.5, 0.0}));
  EXPECT_EQ(p["scale"], 3.0);
  EXPECT_EQ(p["max_iter"], 64);
  EXPECT_EQ(p["julia_c"], nullptr);
  EXPECT_EQ(p["output"], "image");
  EXPECT_EQ(p["format"], "png");
  EXPECT_EQ(p["palette"], "classic");
  EXPECT_EQ(p["coloring"], "smooth");
  EXPECT_EQ(p["supersample"], 1);
  EXPECT_EQ(p["precision"], "auto");
  // Enqueued for the workers.
  storage::RedisOptions ro;
  ro.host = test::shared_redis().host();
  ro.port = test::shared_redis().port();
  storage::TaskQueue queue(ro);
  EXPECT_TRUE(queue.contains_task(t["id"].get<std::string>()));
  // And readable back.
  const Response back = get(r.header("Location"), u.token);
  ASSERT_EQ(back.status, 200);
  EXPECT_EQ(back.j, t);
}

TEST(Add, JuliaAndDecimalStringsAreEchoed) {
  const User u = new_user("julia");
  const json body = {
      {"fractal", "julia"}, {"julia_c", {"-0.8", 0.156}}, {"center", {"0.1", "-0.2"}}, {"scale", "1e-3"}, {"width", 8},
      {"height", 8},        {"precision", "double"}};
  const json t = add_task(u, body);
  EXPECT_EQ(t["params"]["julia_c"], json::array({"-0.8", 0.156}));
  EXPECT_EQ(t["params"]["center"], json::array({"0.1", "-0.2"}));
  EXPECT_EQ(t["params"]["scale"], "1e-3");
  EXPECT_EQ(t["precision_used"], "double");
}

TEST(Add, EveryTaskSpecLimitIsA400NamingTheField) {
  const User u = new_user("limits");
  struct Case {
    json body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{{"width", 0}}, "width"},
      {{{"width", 16385}}, "width"},
      {{{"width", -1}}, "width"},
      {{{"width", 800.5}}, "width"},
      {{{"width", "800"}}, "width"},
      {{{"width", nullptr}}, "width"},
      {{{"height", 0}}, "height"},
      {{{"height", 16385}}, "height"},
      {{{"width", 16384}, {"height", 4097}}, "width"},  // over 67,108,864 pixels
      {{{"max_iter", 0}}, "max_iter"},
      {{{"max_iter", 1000001}}, "max_iter"},
      {{{"scale", 0}}, "scale"},
      {{{"scale", -1}}, "scale"},
      {{{"scale", "inf"}}, "scale"},
      {{{"scale", "0x10"}}, "scale"},
      {{{"center", {1}}}, "center"},
      {{{"center", {1, 2, 3}}}, "center"},
      {{{"center", {"1", "nan"}}}, "center"},
      {{{"center", "0,0"}}, "center"},
      {{{"fractal", "burning_ship"}}, "fractal"},
      {{{"fractal", "julia"}}, "julia_c"},
      {{{"julia_c", {0, 0}}}, "julia_c"},
      {{{"output", "counts"}}, "output"},
      {{{"output", "iterations"}}, "format"},
      {{{"output", "iterations"}, {"format", "png"}}, "format"},
      {{{"format", "gif"}}, "format"},
      {{{"palette", "nope"}}, "palette"},
      {{{"palette", json::array({"#ffffff"})}}, "palette"},
      {{{"palette", json::array({"#ffffff", "red"})}}, "palette"},
      {{{"coloring", "random"}}, "coloring"},
      {{{"supersample", 0}}, "supersample"},
      {{{"supersample", 5}}, "supersample"},
      {{{"output", "iterations"}, {"format", "exr"}, {"supersample", 2}}, "supersample"},
      {{{"precision", "half"}}, "precision"},
      {{{"widht", 100}}, "widht"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.dump());
    const Response r = post_json("/add", c.body, u.token);
    expect_error(r, 400, "invalid_parameter");
    EXPECT_EQ(r.j["error"].value("field", ""), c.field);
    EXPECT_EQ(r.j["error"].value("message", "").rfind(c.field, 0), 0u) << r.body;
  }
  // Limits themselves are accepted.
  for (const json& ok : {json{{"width", 1}, {"height", 1}}, json{{"max_iter", 1}, {"width", 4}, {"height", 4}},
                         json{{"supersample", 4}, {"width", 4}, {"height", 4}},
                         json{{"output", "iterations"}, {"format", "tiff"}, {"width", 4}, {"height", 4}}})
    EXPECT_EQ(post_json("/add", ok, u.token).status, 202) << ok.dump();
  // Too deep a zoom (below what deep zoom reaches, 1e-10000) is 422.
  const Response z = post_json("/add", {{"width", 1000}, {"height", 10}, {"scale", "1e-20000"}}, u.token);
  expect_error(z, 422, "zoom_too_deep");
  EXPECT_EQ(z.j["error"]["field"], "scale");
  // Nothing but the accepted ones was created.
  EXPECT_EQ(get("/tasks", u.token).j["tasks"].size(), 4u);
}

TEST(Add, IdempotencyKeyReturnsTheFirstTask) {
  const User u = new_user("idem");
  const auto add = [&](const json& body, const std::string& key) {
    return send(Request{.method = "POST",
                        .path = "/add",
                        .body = body.dump(),
                        .content_type = "application/json",
                        .token = u.token,
                        .headers = {{"Idempotency-Key", key}}});
  };
  const Response first = add(small_task(), "key-123");
  const Response again = add(small_task(), "key-123");
  ASSERT_EQ(first.status, 202) << first.body;
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(first.j["id"], again.j["id"]);
  EXPECT_EQ(first.header("Location"), again.header("Location"));
  EXPECT_EQ(get("/tasks", u.token).j["tasks"].size(), 1u);
  // Same key, different submission: refused, nothing created.
  const Response other = add(small_task(20, 20), "key-123");
  expect_error(other, 422, "idempotency_key_reused");
  // The key is per user.
  const User v = new_user("idem2");
  const Response theirs = send(Request{.method = "POST",
                                       .path = "/add",
                                       .body = small_task().dump(),
                                       .content_type = "application/json",
                                       .token = v.token,
                                       .headers = {{"Idempotency-Key", "key-123"}}});
  ASSERT_EQ(theirs.status, 202);
  EXPECT_NE(theirs.j["id"], first.j["id"]);
  // Malformed keys.
  expect_error(add(small_task(), std::string(256, 'k')), 400, "invalid_parameter");
  EXPECT_EQ(get("/tasks", u.token).j["tasks"].size(), 1u);
}

TEST(Add, QuotaOfUnfinishedTasks) {
  ServerOptions o = base_options();
  o.quota = 2;
  Server small(std::move(o));
  const std::uint16_t p = small.start();
  const std::string token = sign_up_and_in(unique_username("quota"), p);
  EXPECT_EQ(post_json("/add", small_task(), token, p).status, 202);
  const Response second = post_json("/add", small_task(), token, p);
  EXPECT_EQ(second.status, 202);
  const Response third = post_json("/add", small_task(), token, p);
  expect_error(third, 429, "quota_exceeded");
  // A finished task frees a slot.
  finish_task(second.j["id"], "png", "png-bytes");
  EXPECT_EQ(post_json("/add", small_task(), token, p).status, 202);
  expect_error(post_json("/add", small_task(), token, p), 429, "quota_exceeded");
  small.shutdown();
}

TEST(Tasks, ListNewestFirstWithFiltersAndPages) {
  const User u = new_user("lister");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(add_task(u, small_task(8 + i, 8))["id"]);
  finish_task(ids[1], "png", "x");
  const Response all = get("/tasks", u.token);
  ASSERT_EQ(all.status, 200);
  ASSERT_EQ(all.j.size(), 1u);
  ASSERT_EQ(all.j["tasks"].size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(all.j["tasks"][i]["id"], ids[4 - i]);
  for (const auto& t : all.j["tasks"]) expect_task_object(t);

  const Response done = get("/tasks?status=done", u.token);
  ASSERT_EQ(done.j["tasks"].size(), 1u);
  EXPECT_EQ(done.j["tasks"][0]["id"], ids[1]);
  EXPECT_EQ(done.j["tasks"][0]["download_url"], "/download?id=" + ids[1]);
  EXPECT_EQ(get("/tasks?status=queued", u.token).j["tasks"].size(), 4u);

  const Response page1 = get("/tasks?limit=2", u.token);
  ASSERT_EQ(page1.j["tasks"].size(), 2u);
  const std::string last = page1.j["tasks"][1]["id"];
  const Response page2 = get("/tasks?limit=2&before=" + last, u.token);
  ASSERT_EQ(page2.j["tasks"].size(), 2u);
  EXPECT_EQ(page2.j["tasks"][0]["id"], ids[2]);
  EXPECT_EQ(page2.j["tasks"][1]["id"], ids[1]);
  EXPECT_EQ(get("/tasks?limit=500", u.token).status, 200);

  for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{{"status=finished", "status"},
                                                                                     {"limit=0", "limit"},
                                                                                     {"limit=501", "limit"},
                                                                                     {"limit=abc", "limit"},
                                                                                     {"limit=-1", "limit"},
                                                                                     {"before=nope", "before"},
                                                                                     {"before=" + kUnknownId, "before"},
                                                                                     {"sort=asc", "sort"}}) {
    SCOPED_TRACE(query);
    const Response r = get("/tasks?" + query, u.token);
    expect_error(r, 400, "invalid_parameter");
    EXPECT_EQ(r.j["error"]["field"], field);
  }
}

TEST(Tasks, GetUnknownOrMalformedIs404) {
  const User u = new_user("getter");
  expect_error(get("/tasks/" + kUnknownId, u.token), 404, "not_found");
  expect_error(get("/tasks/not-a-uuid", u.token), 404, "not_found");
  expect_error(get("/tasks/" + kUnknownId + "x", u.token), 404, "not_found");
  // Upper-case ids are the same task.
  const json t = add_task(u);
  std::string upper = t["id"];
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(get("/tasks/" + upper, u.token).status, 200);
}

TEST(Tasks, UsersCannotSeeOrTouchEachOthersTasks) {
  const User alice = new_user("alice");
  const User bob = new_user("bob");
  const json queued = add_task(alice);
  const json done = add_task(alice);
  finish_task(done["id"], "png", "alice-secret-pixels");
  for (const std::string& id : std::vector<std::string>{queued["id"], done["id"]}) {
    SCOPED_TRACE(id);
    const Response unknown = get("/tasks/" + kUnknownId, bob.token);
    const Response theirs = get("/tasks/" + id, bob.token);
    expect_error(theirs, 404, "not_found");
    EXPECT_EQ(theirs.body, unknown.body);
    const Response dl = get("/download?id=" + id, bob.token);
    expect_error(dl, 404, "not_found");
    EXPECT_EQ(dl.body, get("/download?id=" + kUnknownId, bob.token).body);
    expect_error(post_json("/delete", {{"id", id}}, bob.token), 404, "not_found");
    expect_error(del("/tasks/" + id, bob.token), 404, "not_found");
  }
  EXPECT_TRUE(get("/tasks", bob.token).j["tasks"].empty());
  // Alice still has both, file included.
  EXPECT_EQ(get("/tasks", alice.token).j["tasks"].size(), 2u);
  EXPECT_EQ(get("/download?id=" + done["id"].get<std::string>(), alice.token).body, "alice-secret-pixels");
}

TEST(Tasks, DeleteRemovesRecordAndFile) {
  const User u = new_user("deleter");
  const json a = add_task(u);
  const json b = add_task(u);
  finish_task(a["id"], "png", "bytes");
  const auto file = data_dir() / (a["id"].get<std::string>() + ".png");
  ASSERT_TRUE(std::filesystem::exists(file));

  const Response r1 = post_json("/delete", {{"id", a["id"]}}, u.token);
  ASSERT_EQ(r1.status, 200) << r1.body;
  EXPECT_EQ(r1.j, json({{"id", a["id"]}, {"status", "deleted"}}));
  EXPECT_FALSE(std::filesystem::exists(file));
  expect_error(get("/tasks/" + a["id"].get<std::string>(), u.token), 404, "not_found");
  expect_error(post_json("/delete", {{"id", a["id"]}}, u.token), 404, "not_found");

  const Response r2 = del("/tasks/" + b["id"].get<std::string>(), u.token);
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(r2.j, json({{"id", b["id"]}, {"status", "deleted"}}));
  expect_error(del("/tasks/" + b["id"].get<std::string>(), u.token), 404, "not_found");
  EXPECT_TRUE(get("/tasks", u.token).j["tasks"].empty());

  // Body rules of POST /delete.
  expect_error(post_json("/delete", json::object(), u.token), 400, "invalid_parameter");
  expect_error(post_json("/delete", {{"id", 5}}, u.token), 400, "invalid_parameter");
  const Response extra = post_json("/delete", {{"id", kUnknownId}, {"force", true}}, u.token);
  expect_error(extra, 400, "invalid_parameter");
  EXPECT_EQ(extra.j["error"]["field"], "force");
  expect_error(post_json("/delete", {{"id", "not-a-uuid"}}, u.token), 404, "not_found");
  expect_error(del("/tasks/not-a-uuid", u.token), 404, "not_found");
}

TEST(Tasks, DeletingARunningTaskRemovesItForTheWorker) {
  const User u = new_user("runner");
  const json t = add_task(u);
  storage::TaskRepo repo(pool());
  ASSERT_EQ(repo.mark_running(t["id"].get<std::string>(), "w1", "cpu:test x1").status, storage::ClaimStatus::claimed);
  EXPECT_EQ(get("/tasks/" + t["id"].get<std::string>(), u.token).j["status"], "running");
  ASSERT_EQ(del("/tasks/" + t["id"].get<std::string>(), u.token).status, 200);
  // What the worker sees next: the task is gone.
  EXPECT_FALSE(repo.set_progress(t["id"].get<std::string>(), 0.5));
  EXPECT_FALSE(repo.get_by_id(t["id"].get<std::string>()).has_value());
}

TEST(Palettes, ListsNamesAndStops) {
  const Response r = get("/palettes");
  ASSERT_EQ(r.status, 200) << r.body;
  const json& list = r.j["palettes"];
  ASSERT_EQ(list.size(), builtin_palettes().size());
  EXPECT_EQ(list[0]["name"], "classic");
  for (const auto& p : list) {
    EXPECT_TRUE(p["name"].is_string());
    ASSERT_GE(p["stops"].size(), 2u);
    for (const auto& s : p["stops"]) EXPECT_TRUE(std::regex_match(s.get<std::string>(), std::regex("#[0-9a-f]{6}")));
  }
}

TEST(Stats, OwnTasksQueueAndWorkerFigures) {
  const User u = new_user("stats");
  const json a = add_task(u);
  add_task(u);
  finish_task(a["id"], "png", "x");
  // A worker heartbeat and a render, as the worker would record them.
  storage::RedisOptions ro;
  ro.host = test::shared_redis().host();
  ro.port = test::shared_redis().port();
  storage::MetricsStore metrics(ro);
  metrics.heartbeat("stats-test-worker");
  metrics.record_render(0.2, 0.5, 1'000'000);
  // Rates count whole seconds before the current one: wait for it to end.
  Response r;
  ASSERT_TRUE(wait_until(
      [&] {
        r = get("/stats", u.token);
        return r.status == 200 && r.j["renders_per_second"].get<double>() > 0;
      },
      std::chrono::seconds(5)))
      << r.body;
  EXPECT_EQ(r.j["tasks"]["queued"], 1);
  EXPECT_EQ(r.j["tasks"]["done"], 1);
  EXPECT_EQ(r.j["tasks"]["running"], 0);
  EXPECT_EQ(r.j["tasks"]["failed"], 0);
  EXPECT_EQ(r.j["tasks"]["canceled"], 0);
  EXPECT_GE(r.j["queue_depth"].get<int>(), 1);
  EXPECT_GE(r.j["workers_alive"].get<int>(), 1);
  EXPECT_GT(r.j["renders_per_second"].get<double>(), 0.0);
  EXPECT_GT(r.j["iterations_per_second"].get<double>(), 0.0);
  metrics.worker_stopped("stats-test-worker");
}

}  // namespace
}  // namespace fractal::server::testing
