// The submit path at scale: POST /add with {"tasks": [...]}, the group commit
// of concurrent single submissions (quota and idempotency under concurrency),
// the per-user counter of unfinished tasks, and POST /tasks/<id>/cancel.
#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "server/services.h"
#include "server/submit_batcher.h"
#include "storage/redis.h"
#include "tests/server/server_test_env.h"
#include "tests/support/shared_services.h"

namespace fractal::server::testing {
namespace {

const std::string kUnknownId = "00000000-0000-4000-8000-000000000000";

storage::RedisOptions shared_redis_options() {
  storage::RedisOptions ro;
  ro.host = test::shared_redis().host();
  ro.port = test::shared_redis().port();
  return ro;
}

Response add_with_key(const std::string& token, const json& body, const std::string& key, std::uint16_t on_port = 0) {
  return send(Request{.method = "POST",
                      .path = "/add",
                      .body = body.dump(),
                      .content_type = "application/json",
                      .token = token,
                      .headers = {{"Idempotency-Key", key}},
                      .port = on_port});
}

json batch_of(std::vector<json> bodies) { return {{"tasks", std::move(bodies)}}; }

std::size_t task_count(const std::string& token, std::uint16_t on_port = 0) {
  return get("/tasks?limit=500", token, on_port).j["tasks"].size();
}

// users.unfinished agrees with the tasks table.
void expect_counter_right(const std::string& user_id, std::int64_t expected) {
  storage::TaskRepo repo(pool());
  EXPECT_EQ(repo.unfinished(user_id), expected);
  EXPECT_EQ(repo.count_by_status(user_id).unfinished(), expected);
}

// A server of its own with another quota, stopped at the end of the test.
class QuotaServer {
 public:
  explicit QuotaServer(std::int64_t quota) : server_([quota] {
    ServerOptions o = base_options();
    o.quota = quota;
    return o;
  }()) {
    port_ = server_.start();
  }
  ~QuotaServer() { server_.shutdown(); }
  std::uint16_t port() const { return port_; }

 private:
  Server server_;
  std::uint16_t port_ = 0;
};

TEST(Batch, Returns202WithEveryTaskInOrder) {
  const User u = new_user("batch");
  const Response r = post_json("/add", batch_of({small_task(8, 8), small_task(9, 9), small_task(10, 10)}), u.token);
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(r.j.is_object());
  ASSERT_EQ(r.j.size(), 1u) << r.body;
  const json& tasks = r.j["tasks"];
  ASSERT_EQ(tasks.size(), 3u);
  std::set<std::string> ids;
  storage::TaskQueue queue(shared_redis_options());
  for (int i = 0; i < 3; ++i) {
    const json& t = tasks[i];
    EXPECT_EQ(t["status"], "queued");
    EXPECT_EQ(t["params"]["width"], 8 + i);  // the request's order
    ids.insert(t["id"].get<std::string>());
    EXPECT_EQ(get("/tasks/" + t["id"].get<std::string>(), u.token).j, t);
    EXPECT_TRUE(queue.contains_task(t["id"].get<std::string>()));
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_FALSE(r.has_header("Idempotent-Replayed"));
  // Newest first: the last of the batch leads the list.
  EXPECT_EQ(get("/tasks", u.token).j["tasks"][0]["id"], tasks[2]["id"]);
  expect_counter_right(u.id, 3);
}

TEST(Batch, OneBadBodyCreatesNothingAndIsNamedByIndex) {
  const User u = new_user("badbatch");
  struct Case {
    json body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {batch_of({small_task(), small_task(), small_task(), {{"width", 0}}}), "tasks[3].width"},
      {batch_of({small_task(), {{"widht", 8}}}), "tasks[1].widht"},
      {batch_of({small_task(), {{"fractal", "julia"}}}), "tasks[1].julia_c"},
      {batch_of({json::array({1, 2}), small_task()}), "tasks[0]"},
      {batch_of({small_task(), "width=8"}), "tasks[1]"},
      {batch_of({}), "tasks"},
      {batch_of(std::vector<json>(1001, json::object())), "tasks"},
      {{{"tasks", small_task()}}, "tasks"},
      {{{"tasks", nullptr}}, "tasks"},
      {{{"tasks", json::array({small_task()})}, {"width", 8}}, "width"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.dump().substr(0, 200));
    const Response r = post_json("/add", c.body, u.token);
    expect_error(r, 400, "invalid_parameter");
    EXPECT_EQ(r.j["error"].value("field", ""), c.field);
    EXPECT_EQ(r.j["error"].value("message", "").rfind(c.field + ":", 0), 0u) << r.body;
  }
  // A view too deep keeps its own status and code, named the same way.
  const Response deep = post_json("/add", batch_of({small_task(), {{"scale", "1e-20000"}}}), u.token);
  expect_error(deep, 422, "zoom_too_deep");
  EXPECT_EQ(deep.j["error"].value("field", ""), "tasks[1].scale") << deep.body;
  EXPECT_EQ(deep.j["error"].value("message", "").rfind("tasks[1].scale:", 0), 0u) << deep.body;
  EXPECT_EQ(task_count(u.token), 0u);
  expect_counter_right(u.id, 0);
  // The message of a nested error keeps the field's own text.
  const Response r = post_json("/add", batch_of({small_task(), {{"width", 0}}}), u.token);
  EXPECT_EQ(r.j["error"]["message"], "tasks[1].width: must be an integer from 1 to 16384") << r.body;
}

TEST(Batch, OverTheQuotaIs429AndCreatesNothing) {
  QuotaServer s(5);
  const std::string token = sign_up_and_in(unique_username("bquota"), s.port());
  std::vector<json> six(6, small_task());
  const Response over = post_json("/add", batch_of(six), token, s.port());
  expect_error(over, 429, "quota_exceeded");
  EXPECT_EQ(task_count(token, s.port()), 0u);
  six.pop_back();
  const Response five = post_json("/add", batch_of(six), token, s.port());
  ASSERT_EQ(five.status, 202) << five.body;
  EXPECT_EQ(five.j["tasks"].size(), 5u);
  expect_error(post_json("/add", small_task(), token, s.port()), 429, "quota_exceeded");
  expect_error(post_json("/add", batch_of({small_task()}), token, s.port()), 429, "quota_exceeded");
  EXPECT_EQ(task_count(token, s.port()), 5u);
}

TEST(Batch, AThousandTasksInOneRequest) {
  QuotaServer s(0);  // unlimited
  const std::string token = sign_up_and_in(unique_username("big"), s.port());
  const Response r = post_json("/add", batch_of(std::vector<json>(1000, small_task())), token, s.port());
  ASSERT_EQ(r.status, 202) << r.body.substr(0, 300);
  ASSERT_EQ(r.j["tasks"].size(), 1000u);
  std::set<std::string> ids;
  for (const auto& t : r.j["tasks"]) ids.insert(t["id"].get<std::string>());
  EXPECT_EQ(ids.size(), 1000u);
  storage::TaskQueue queue(shared_redis_options());
  const auto queued = queue.task_ids();
  EXPECT_TRUE(std::all_of(ids.begin(), ids.end(), [&](const std::string& id) { return queued.count(id) == 1; }));
}

TEST(Batch, IdempotencyKeyCoversTheWholeBatch) {
  const User u = new_user("bidem");
  const json body = batch_of({small_task(8, 8), small_task(9, 9)});
  const Response first = add_with_key(u.token, body, "batch-1");
  ASSERT_EQ(first.status, 202) << first.body;
  const Response again = add_with_key(u.token, body, "batch-1");
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  ASSERT_EQ(again.j["tasks"].size(), 2u);
  EXPECT_EQ(again.j["tasks"][0]["id"], first.j["tasks"][0]["id"]);
  EXPECT_EQ(again.j["tasks"][1]["id"], first.j["tasks"][1]["id"]);
  EXPECT_EQ(task_count(u.token), 2u);
  // Another batch, or a single task, under the same key: refused, nothing created.
  expect_error(add_with_key(u.token, batch_of({small_task(8, 8)}), "batch-1"), 422, "idempotency_key_reused");
  expect_error(add_with_key(u.token, small_task(8, 8), "batch-1"), 422, "idempotency_key_reused");
  EXPECT_EQ(task_count(u.token), 2u);
  expect_counter_right(u.id, 2);
}

TEST(GroupCommit, ConcurrentSubmissionsNeverPassTheQuota) {
  QuotaServer s(50);
  const User u{unique_username("crowd"), "", ""};
  const std::string token = sign_up_and_in(u.name, s.port());
  constexpr int kRequests = 64;
  std::latch go(kRequests);
  std::mutex mutex;
  std::map<int, int> statuses;
  std::vector<std::string> bodies;
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      const Response r = post_json("/add", small_task(8 + i, 8), token, s.port());
      std::lock_guard lock(mutex);
      ++statuses[r.status];
      if (r.status != 202) bodies.push_back(r.body);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(statuses[202], 50);
  EXPECT_EQ(statuses[429], kRequests - 50);
  for (const auto& b : bodies) EXPECT_NE(b.find("quota_exceeded"), std::string::npos) << b;
  EXPECT_EQ(task_count(token, s.port()), 50u);
  const json me = get("/stats", token, s.port()).j;
  EXPECT_EQ(me["tasks"]["queued"], 50);
}

TEST(GroupCommit, SixteenRetriesWithOneKeyCreateOneTask) {
  const User u = new_user("retries");
  constexpr int kRequests = 16;
  std::latch go(kRequests);
  std::mutex mutex;
  std::vector<Response> answers;
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&] {
      go.arrive_and_wait();
      Response r = add_with_key(u.token, small_task(), "the-one-key");
      std::lock_guard lock(mutex);
      answers.push_back(std::move(r));
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> ids;
  int replayed = 0;
  for (const auto& r : answers) {
    ASSERT_EQ(r.status, 202) << r.body;
    ids.insert(r.j["id"].get<std::string>());
    if (r.header("Idempotent-Replayed") == "true") ++replayed;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(replayed, kRequests - 1);
  EXPECT_EQ(task_count(u.token), 1u);
  expect_counter_right(u.id, 1);
}

// The batcher itself: what arrives together is one transaction, and every
// submission of it gets its own outcome.
TEST(GroupCommit, OneTransactionPerGroupWithAnOutcomePerSubmission) {
  storage::TaskRepo repo(pool(), {.max_unfinished_per_user = 1});
  storage::QueueOptions qo;
  qo.stream = unique_username("submit-test") + ":tasks";
  storage::TaskQueue queue(shared_redis_options(), qo);
  constexpr int kSubmissions = 8;
  // One executor and a long window: the eight submissions below form one group.
  SubmitBatcher batcher(repo, queue, {.executors = 1, .max_group = kSubmissions, .window = std::chrono::seconds(5)});

  const User full = new_user("full");
  const User keyed = new_user("keyed");
  ASSERT_EQ(repo.create(full.id, small_task()).outcome, storage::CreateOutcome::created);
  ASSERT_EQ(repo.create(keyed.id, small_task(8, 8), "k").outcome, storage::CreateOutcome::created);
  std::vector<storage::Submission> submissions;
  for (int i = 0; i < 5; ++i) submissions.push_back({new_user("g").id, {small_task(8 + i, 8)}, false, std::nullopt});
  submissions.push_back({full.id, {small_task()}, false, std::nullopt});          // quota
  submissions.push_back({keyed.id, {small_task(9, 9)}, false, std::string("k")});  // key reused
  submissions.push_back({kUnknownId, {small_task()}, false, std::nullopt});        // no such user

  std::vector<storage::SubmissionResult> results(kSubmissions);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kSubmissions; ++i)
    threads.emplace_back([&, i] { results[i] = batcher.submit(submissions[i]); });
  for (auto& t : threads) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, test::sanitizer_scaled(std::chrono::seconds(4))) << "a full group does not wait";

  std::vector<std::string> created;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(results[i].outcome, storage::CreateOutcome::created) << i;
    created.push_back(results[i].tasks.at(0).id);
  }
  EXPECT_EQ(results[5].outcome, storage::CreateOutcome::quota_exceeded);
  EXPECT_EQ(results[6].outcome, storage::CreateOutcome::idempotency_conflict);
  EXPECT_EQ(results[7].outcome, storage::CreateOutcome::unknown_owner);
  // xmin: the transaction that wrote the row; one for the whole group.
  const auto transactions = pool().transact([&](pqxx::work& tx) {
    std::string list;
    for (const auto& id : created) list += (list.empty() ? "'" : ",'") + id + "'";
    return tx.exec("SELECT count(DISTINCT xmin::text) FROM tasks WHERE id IN (" + list + ")")[0][0].as<int>();
  });
  EXPECT_EQ(transactions, 1);
  // And one XADD round trip enqueued them all.
  const auto queued = queue.task_ids();
  for (const auto& id : created) EXPECT_EQ(queued.count(id), 1u) << id;
  EXPECT_EQ(queue.depth().length, 5);
}

TEST(Cancel, QueuedAndRunningTasksBecomeCanceled) {
  const User u = new_user("canceler");
  storage::TaskRepo repo(pool());
  const std::string queued = add_task(u)["id"];
  const std::string running = add_task(u)["id"];
  ASSERT_EQ(repo.mark_running(running, "w1", "cpu:test x1").status, storage::ClaimStatus::claimed);
  ASSERT_TRUE(repo.set_progress(running, 0.5));
  expect_counter_right(u.id, 2);

  const Response q = post_json("/tasks/" + queued + "/cancel", json::object(), u.token);
  ASSERT_EQ(q.status, 200) << q.body;
  EXPECT_EQ(q.j["id"], queued);
  EXPECT_EQ(q.j["status"], "canceled");
  EXPECT_TRUE(q.j["finished_at"].is_string());
  EXPECT_EQ(q.j["download_url"], nullptr);
  EXPECT_EQ(get("/tasks/" + queued, u.token).j, q.j);
  expect_error(get("/download?id=" + queued, u.token), 410, "canceled");

  // Without a body, and upper case: the same task.
  std::string upper = running;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const Response r = send(Request{.method = "POST", .path = "/tasks/" + upper + "/cancel", .token = u.token});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["status"], "canceled");
  EXPECT_EQ(r.j["progress"], 0.5);
  // What the worker rendering it sees next: not running, so it stops and keeps nothing.
  EXPECT_FALSE(repo.set_progress(running, 0.75));
  storage::RenderOutcome outcome;
  outcome.backend = "cpu:test x1";
  outcome.precision_used = "double";
  outcome.file_path = running + ".png";
  EXPECT_FALSE(repo.mark_done(running, outcome));
  expect_error(get("/download?id=" + running, u.token), 410, "canceled");

  // Canceling again answers the canceled task unchanged.
  const Response again = send(Request{.method = "POST", .path = "/tasks/" + queued + "/cancel", .token = u.token});
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.j, q.j);
  expect_counter_right(u.id, 0);
  // A canceled task no longer counts towards the quota and can still be deleted.
  ASSERT_EQ(del("/tasks/" + queued, u.token).status, 200);
  expect_counter_right(u.id, 0);
}

TEST(Cancel, AFinishedTaskIsReturnedUnchanged) {
  const User u = new_user("latecancel");
  const std::string done = add_task(u)["id"];
  finish_task(done, "png", "pixels");
  const json before = get("/tasks/" + done, u.token).j;
  const Response r = post_json("/tasks/" + done + "/cancel", json::object(), u.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j, before);
  EXPECT_EQ(r.j["status"], "done");
  EXPECT_EQ(get("/download?id=" + done, u.token).body, "pixels");

  storage::TaskRepo repo(pool());
  const std::string failed = add_task(u)["id"];
  ASSERT_TRUE(repo.mark_failed(failed, "boom"));
  const Response f = post_json("/tasks/" + failed + "/cancel", json::object(), u.token);
  ASSERT_EQ(f.status, 200);
  EXPECT_EQ(f.j["status"], "failed");
  EXPECT_EQ(f.j["error"], "boom");
  expect_counter_right(u.id, 0);
}

TEST(Cancel, SomeoneElsesOrAnUnknownTaskIs404) {
  const User alice = new_user("calice");
  const User bob = new_user("cbob");
  const std::string id = add_task(alice)["id"];
  const Response unknown = post_json("/tasks/" + kUnknownId + "/cancel", json::object(), bob.token);
  expect_error(unknown, 404, "not_found");
  const Response theirs = post_json("/tasks/" + id + "/cancel", json::object(), bob.token);
  expect_error(theirs, 404, "not_found");
  EXPECT_EQ(theirs.body, unknown.body);
  expect_error(post_json("/tasks/not-a-uuid/cancel", json::object(), bob.token), 404, "not_found");
  EXPECT_EQ(get("/tasks/" + id, alice.token).j["status"], "queued");
  // The usual rules: a token, POST only, no body fields.
  EXPECT_EQ(post_json("/tasks/" + id + "/cancel", json::object()).status, 401);
  const Response wrong = get("/tasks/" + id + "/cancel", alice.token);
  expect_error(wrong, 405, "method_not_allowed");
  EXPECT_EQ(wrong.header("Allow"), "POST");
  const Response extra = post_json("/tasks/" + id + "/cancel", {{"force", true}}, alice.token);
  expect_error(extra, 400, "invalid_parameter");
  EXPECT_EQ(extra.j["error"]["field"], "force");
  EXPECT_EQ(get("/tasks/" + id, alice.token).j["status"], "queued");
}

}  // namespace
}  // namespace fractal::server::testing
