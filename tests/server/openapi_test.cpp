// GET /openapi.json: the document describes exactly the running server's
// routes, its body schema is the TaskSpec field table, and every documented
// operation is driven here against the real server. Every answer this
// executable receives is also recorded (FRACTAL_RESPONSE_LOG) and checked
// against the document's schemas by tests/openapi/check.mjs
// (ctest OpenApi.ResponsesMatchDocument).
#include <functional>
#include <map>
#include <set>

#include "kernels/task_spec.h"
#include "server/openapi.h"
#include "storage/tasks.h"
#include "tests/server/server_test_env.h"

namespace fractal::server::testing {
namespace {

std::set<std::string> operations_of(const json& doc) {
  std::set<std::string> ops;
  for (const auto& [path, item] : doc["paths"].items())
    for (const auto& [verb, op] : item.items())
      if (verb != "parameters") ops.insert(verb + " " + path);
  return ops;
}

std::set<std::string> documented_statuses(const json& doc, const std::string& verb, const std::string& path) {
  std::set<std::string> out;
  for (const auto& [status, r] : doc["paths"][path][verb]["responses"].items()) out.insert(status);
  return out;
}

TEST(OpenApi, ServedDocumentIsTheDocumentOfTheRegisteredRoutes) {
  const Response r = get("/openapi.json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type").substr(0, 16), "application/json");
  EXPECT_EQ(r.j["openapi"], "3.1.0");
  // The shared test server runs every route group and no web client.
  std::set<std::string> want = operations_of(openapi_document());
  want.erase("get /");
  EXPECT_EQ(operations_of(r.j), want);
  EXPECT_TRUE(r.j["paths"].contains("/tiles/{z}/{x}/{y}.png"));
  EXPECT_TRUE(r.j["paths"]["/add"]["post"].is_object());
  EXPECT_TRUE(r.j["paths"]["/openapi.json"]["get"].is_object());
}

TEST(OpenApi, RouteGroupsLimitTheDocument) {
  ServerOptions o = base_options();
  o.routes = RouteGroups{true, false, false};  // auth only
  Server auth_only(std::move(o));
  const std::uint16_t p = auth_only.start();
  const Response r = get("/openapi.json", std::nullopt, p);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(operations_of(r.j),
            (std::set<std::string>{"post /sign-up", "get /sign-in", "post /sign-in", "post /sign-out", "get /livez",
                                   "get /readyz", "get /metrics", "get /openapi.json"}));
  auth_only.shutdown();
}

TEST(OpenApi, AnUndocumentedRouteStopsTheStart) {
  EXPECT_THROW((void)openapi_for_routes({{"GET", "/livez"}, {"GET", "/no-such-route"}}, false), std::logic_error);
  EXPECT_THROW((void)openapi_for_routes({{"PUT", "/tasks/:id"}}, false), std::logic_error);
  EXPECT_NO_THROW((void)openapi_for_routes({{"DELETE", "/tasks/:id"}, {"GET", "/tiles/:z/:x/:y.png"}}, true));
  EXPECT_EQ(openapi_path("/tiles/:z/:x/:y.png"), "/tiles/{z}/{x}/{y}.png");
  EXPECT_EQ(openapi_path("/tasks/:id/cancel"), "/tasks/{id}/cancel");
}

// The body schema is the parser's field table: every field, its type, limits and default.
TEST(OpenApi, TaskBodySchemaIsTheFieldTable) {
  const json& body = openapi_document()["components"]["schemas"]["TaskBody"];
  EXPECT_EQ(body["additionalProperties"], false);
  std::set<std::string> fields, documented;
  for (const FieldInfo& f : task_fields()) fields.insert(std::string(f.name));
  for (const auto& [name, s] : body["properties"].items()) documented.insert(name);
  EXPECT_EQ(fields, documented);
  const json& p = body["properties"];
  EXPECT_EQ(p["width"]["maximum"], kMaxSide);
  EXPECT_EQ(p["width"]["minimum"], 1);
  EXPECT_EQ(p["width"]["default"], 800);
  EXPECT_EQ(p["max_iter"]["maximum"], kMaxIter);
  EXPECT_EQ(p["supersample"]["maximum"], kMaxSupersample);
  EXPECT_EQ(p["format"]["enum"], json::array({"png", "jpg", "tiff", "exr"}));
  EXPECT_EQ(p["precision"]["enum"], json::array({"auto", "float", "double", "deep"}));
  EXPECT_EQ(p["fractal"]["default"], "mandelbrot");
  // Every enum value the schema lists is accepted by the parser, and the
  // schema's limits are the parser's: the edge passes, one past it fails.
  for (const auto& [name, s] : p.items()) {
    if (s.contains("enum"))
      for (const auto& v : s["enum"]) {
        json b = {{name, v}};
        if (name == "output" && v == "iterations") b["format"] = "exr";
        if (name == "fractal" && v == "julia") b["julia_c"] = {0, 0};
        EXPECT_TRUE(parse_task_spec(b).ok()) << b.dump();
      }
    if (s.value("type", "") == "integer") {
      const auto lo = s["minimum"].get<long long>(), hi = s["maximum"].get<long long>();
      const std::string other = name == "width" ? "height" : "width";
      auto ok = [&](long long v) { return parse_task_spec(json{{name, v}, {other, 1}}).ok(); };
      EXPECT_TRUE(ok(lo)) << name;
      EXPECT_TRUE(ok(hi)) << name;
      EXPECT_FALSE(ok(lo - 1)) << name;
      EXPECT_FALSE(ok(hi + 1)) << name;
    }
  }
  EXPECT_EQ(openapi_document()["components"]["schemas"]["TaskBatchBody"]["properties"]["tasks"]["maxItems"],
            storage::kMaxBatchTasks);
}

// One real request per documented operation (success where the test server
// can give one); the answer's status must be documented for it. Together with
// the recorded answers of every other test, check.mjs then validates bodies.
TEST(OpenApi, EveryOperationAnswersAsDocumented) {
  const User u = new_user("oas");
  const std::string queued = add_task(u)["id"];
  const std::string done = add_task(u)["id"];
  finish_task(done, "png", "png-bytes");
  const std::string to_delete = add_task(u)["id"];
  const std::string to_delete_too = add_task(u)["id"];
  const std::string to_cancel = add_task(u)["id"];
  const User out = new_user("oasout");

  using Call = std::function<Response()>;
  const std::map<std::string, Call> calls = {
      {"post /sign-up",
       [] { return post_json("/sign-up", {{"username", unique_username("oas")}, {"password", kPassword}}); }},
      {"get /sign-in",
       [&] {
         // Basic credentials of a user that does not exist: the documented 401.
         return send(Request{.path = "/sign-in", .headers = {{"Authorization", "Basic bm9ib2R5OndoYXRldmVyMQ=="}}});
       }},
      {"post /sign-in", [&] { return post_json("/sign-in", {{"username", u.name}, {"password", kPassword}}); }},
      {"post /sign-out", [&] { return send(Request{.method = "POST", .path = "/sign-out", .token = out.token}); }},
      {"post /add", [&] { return post_json("/add", {{"tasks", json::array({small_task(), small_task(8, 8)})}}, u.token); }},
      {"get /tasks", [&] { return get("/tasks?limit=10", u.token); }},
      {"get /tasks/{id}", [&] { return get("/tasks/" + queued, u.token); }},
      {"delete /tasks/{id}", [&] { return del("/tasks/" + to_delete, u.token); }},
      {"post /tasks/{id}/cancel",
       [&] { return send(Request{.method = "POST", .path = "/tasks/" + to_cancel + "/cancel", .token = u.token}); }},
      {"post /delete", [&] { return post_json("/delete", {{"id", to_delete_too}}, u.token); }},
      {"get /stats", [&] { return get("/stats", u.token); }},
      {"get /palettes", [] { return get("/palettes"); }},
      {"get /download", [&] { return get("/download?id=" + done, u.token); }},
      // No worker serves the tile lane in this executable: a level out of range is the documented 400
      // (tests/tiles records the rendered 200s and 304s).
      {"get /tiles/{z}/{x}/{y}.png", [&] { return get("/tiles/1/2/0.png", u.token); }},
      {"get /livez", [] { return get("/livez"); }},
      {"get /readyz", [] { return get("/readyz"); }},
      {"get /metrics", [] { return get("/metrics"); }},
      {"get /openapi.json", [] { return get("/openapi.json"); }},
  };
  const json doc = get("/openapi.json").j;
  for (const std::string& op : operations_of(doc)) {
    SCOPED_TRACE(op);
    const auto call = calls.find(op);
    ASSERT_NE(call, calls.end()) << "no request for the documented operation " << op << " in this test";
    const Response r = call->second();
    const std::size_t space = op.find(' ');
    const auto statuses = documented_statuses(doc, op.substr(0, space), op.substr(space + 1));
    EXPECT_TRUE(statuses.count(std::to_string(r.status))) << r.status << " " << r.body;
    if (op != "get /sign-in" && op != "get /tiles/{z}/{x}/{y}.png") EXPECT_LT(r.status, 300) << r.body;
  }
  EXPECT_EQ(calls.size(), operations_of(doc).size()) << "a request above has no documented operation";
}

}  // namespace
}  // namespace fractal::server::testing
