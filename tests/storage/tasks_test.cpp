#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "storage/tasks.h"
#include "tests/storage/storage_test_env.h"

namespace fractal::storage {
namespace {

using nlohmann::json;
using testing::make_user;
using testing::shared_pool;
using namespace std::chrono_literals;

json params(int n) {
  return json{{"fractal", "mandelbrot"}, {"width", 64 + n}, {"height", 48}, {"center", {-0.5, 0.0}},
              {"scale", 3.0}, {"max_iter", 500}, {"format", "png"}};
}

TaskRecord create_ok(TaskRepo& repo, const std::string& owner, const json& p = params(0)) {
  TaskCreateResult r = repo.create(owner, p);
  if (r.outcome != CreateOutcome::created || !r.task) throw std::runtime_error("create failed");
  return *r.task;
}

TEST(TaskRepo, CreateStoresAQueuedTaskAndGetReturnsIt) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const json p = {{"fractal", "julia"}, {"julia_c", {"-0.8", "0.156"}}, {"palette", {"#000000", "#ffffff"}},
                  {"note", "Ünïcødé ✓ '; DROP TABLE tasks; --"}};
  const auto before = std::chrono::system_clock::now() - 5s;
  const TaskCreateResult r = repo.create(owner, p);
  ASSERT_EQ(r.outcome, CreateOutcome::created);
  ASSERT_TRUE(r.task);
  const TaskRecord& t = *r.task;
  EXPECT_EQ(t.id.size(), 36u);
  EXPECT_EQ(t.owner, owner);
  EXPECT_EQ(t.params, p);
  EXPECT_EQ(t.status, TaskStatus::queued);
  EXPECT_EQ(t.progress, 0.0);
  EXPECT_EQ(t.attempts, 0);
  EXPECT_GT(t.created_at, before);
  EXPECT_FALSE(t.started_at || t.finished_at || t.error || t.backend || t.iterations || t.file_path || t.worker);

  const auto got = repo.get(owner, t.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->params, p);
  EXPECT_EQ(got->created_at, t.created_at);
  EXPECT_EQ(to_rfc3339(got->created_at).size(), 24u);  // 2025-01-31T23:59:59.123Z
}

TEST(TaskRepo, GetManyByIdAnswersEachIdInOrderInOneQuery) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const TaskRecord a = create_ok(repo, owner, params(1));
  const TaskRecord b = create_ok(repo, owner, params(2));
  std::string upper = b.id;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  const auto got = repo.get_many_by_id({b.id, "not-a-uuid", a.id, "0b9e7c2a-3a53-4c9b-9a43-1f6c2d6f0a99", upper});
  ASSERT_EQ(got.size(), 5u);
  ASSERT_TRUE(got[0] && got[2] && got[4]);
  EXPECT_EQ(got[0]->id, b.id);
  EXPECT_EQ(got[0]->params, params(2));
  EXPECT_FALSE(got[1]);
  EXPECT_EQ(got[2]->id, a.id);
  EXPECT_FALSE(got[3]);
  EXPECT_EQ(got[4]->id, b.id) << "ids are matched in canonical form";
  EXPECT_TRUE(repo.get_many_by_id({}).empty());
}

TEST(TaskRepo, AnotherUsersTaskDoesNotExistForYou) {
  TaskRepo repo(shared_pool());
  const std::string alice = make_user(shared_pool());
  const std::string mallory = make_user(shared_pool());
  const TaskRecord t = create_ok(repo, alice);
  EXPECT_FALSE(repo.get(mallory, t.id));
  EXPECT_FALSE(repo.remove(mallory, t.id));
  EXPECT_TRUE(repo.list(mallory).tasks.empty());
  EXPECT_FALSE(repo.list(mallory, {.before = t.id}).before_found);
  EXPECT_EQ(repo.count_by_status(mallory).total(), 0);
  EXPECT_TRUE(repo.get(alice, t.id));  // still there
}

TEST(TaskRepo, ListIsNewestFirstWithKeysetPages) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  std::vector<std::string> ids;  // oldest first
  for (int i = 0; i < 7; ++i) ids.push_back(create_ok(repo, owner, params(i)).id);
  const std::vector<std::string> newest_first(ids.rbegin(), ids.rend());

  std::vector<std::string> seen;
  std::optional<std::string> before;
  std::vector<std::size_t> page_sizes;
  while (true) {
    const TaskPage page = repo.list(owner, {.limit = 3, .before = before});
    EXPECT_TRUE(page.before_found);
    page_sizes.push_back(page.tasks.size());
    for (const auto& t : page.tasks) seen.push_back(t.id);
    if (page.tasks.size() < 3) break;
    before = page.tasks.back().id;
  }
  EXPECT_EQ(seen, newest_first);
  EXPECT_EQ(page_sizes, (std::vector<std::size_t>{3, 3, 1}));
  EXPECT_EQ(repo.list(owner, {.limit = 0}).tasks.size(), 0u);
  EXPECT_EQ(repo.list(owner).tasks.size(), 7u);  // default limit 50
}

TEST(TaskRepo, ListFiltersByStatus) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(create_ok(repo, owner, params(i)).id);
  ASSERT_EQ(repo.mark_running(ids[1], "w", "cpu").status, ClaimStatus::claimed);
  ASSERT_EQ(repo.mark_running(ids[3], "w", "cpu").status, ClaimStatus::claimed);
  ASSERT_TRUE(repo.mark_done(ids[3], {"cpu:avx512 x2", "double", 10, 5, ids[3] + ".png", 100}));
  ASSERT_TRUE(repo.mark_failed(ids[4], "boom"));

  auto ids_of = [](const TaskPage& p) {
    std::vector<std::string> out;
    for (const auto& t : p.tasks) out.push_back(t.id);
    return out;
  };
  EXPECT_EQ(ids_of(repo.list(owner, {.status = TaskStatus::queued})), (std::vector<std::string>{ids[2], ids[0]}));
  EXPECT_EQ(ids_of(repo.list(owner, {.status = TaskStatus::running})), (std::vector<std::string>{ids[1]}));
  EXPECT_EQ(ids_of(repo.list(owner, {.status = TaskStatus::done})), (std::vector<std::string>{ids[3]}));
  EXPECT_EQ(ids_of(repo.list(owner, {.status = TaskStatus::failed})), (std::vector<std::string>{ids[4]}));
  EXPECT_TRUE(repo.list(owner, {.status = TaskStatus::canceled}).tasks.empty());
  // Filter and cursor together.
  EXPECT_EQ(ids_of(repo.list(owner, {.status = TaskStatus::queued, .before = ids[2]})),
            (std::vector<std::string>{ids[0]}));

  const StatusCounts c = repo.count_by_status(owner);
  EXPECT_EQ(c.queued, 2);
  EXPECT_EQ(c.running, 1);
  EXPECT_EQ(c.done, 1);
  EXPECT_EQ(c.failed, 1);
  EXPECT_EQ(c.canceled, 0);
}

TEST(TaskRepo, UnknownOrMalformedCursorIsReported) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  create_ok(repo, owner);
  EXPECT_FALSE(repo.list(owner, {.before = "00000000-0000-4000-8000-000000000000"}).before_found);
  EXPECT_FALSE(repo.list(owner, {.before = "x' OR 1=1 --"}).before_found);
}

TEST(TaskRepo, DeleteReturnsTheRecordOnce) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const TaskRecord t = create_ok(repo, owner);
  ASSERT_EQ(repo.mark_running(t.id, "w1", "cpu").status, ClaimStatus::claimed);
  ASSERT_TRUE(repo.mark_done(t.id, {"cpu", "double", 1, 1, t.id + ".png", 42}));
  const auto gone = repo.remove(owner, t.id);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->id, t.id);
  EXPECT_EQ(gone->file_path, t.id + ".png");  // so the caller can remove the file
  EXPECT_FALSE(repo.get(owner, t.id));
  EXPECT_FALSE(repo.remove(owner, t.id));
  // The worker side sees it gone, too.
  EXPECT_EQ(repo.mark_running(t.id, "w1", "cpu").status, ClaimStatus::not_found);
  EXPECT_FALSE(repo.mark_done(t.id, {"cpu", "double", 1, 1, "x.png", 1}));
}

TEST(TaskRepo, IdempotencyKeyReturnsTheFirstTask) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const std::string other = make_user(shared_pool());
  const TaskCreateResult first = repo.create(owner, params(1), "key-1");
  ASSERT_EQ(first.outcome, CreateOutcome::created);
  const TaskCreateResult again = repo.create(owner, params(1), "key-1");
  EXPECT_EQ(again.outcome, CreateOutcome::existing);
  ASSERT_TRUE(again.task);
  EXPECT_EQ(again.task->id, first.task->id);
  EXPECT_EQ(repo.count_by_status(owner).total(), 1);

  // Same key, other params: reported, nothing created.
  const TaskCreateResult changed = repo.create(owner, params(2), "key-1");
  EXPECT_EQ(changed.outcome, CreateOutcome::idempotency_conflict);
  EXPECT_EQ(changed.task->id, first.task->id);
  EXPECT_EQ(repo.count_by_status(owner).total(), 1);

  // Keys are per user.
  const TaskCreateResult theirs = repo.create(other, params(1), "key-1");
  EXPECT_EQ(theirs.outcome, CreateOutcome::created);
  EXPECT_NE(theirs.task->id, first.task->id);

  // Deleting the task frees the key.
  ASSERT_TRUE(repo.remove(owner, first.task->id));
  const TaskCreateResult fresh = repo.create(owner, params(1), "key-1");
  EXPECT_EQ(fresh.outcome, CreateOutcome::created);
  EXPECT_NE(fresh.task->id, first.task->id);

  EXPECT_THROW((void)repo.create(owner, params(1), ""), std::invalid_argument);
  EXPECT_THROW((void)repo.create(owner, params(1), std::string(256, 'k')), std::invalid_argument);
}

TEST(TaskRepo, ConcurrentRetriesWithOneKeyCreateOneTask) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  constexpr int kThreads = 8;
  std::latch go(kThreads);
  std::mutex mu;
  std::map<CreateOutcome, int> outcomes;
  std::set<std::string> ids;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      go.arrive_and_wait();
      const TaskCreateResult r = repo.create(owner, params(7), "retry-key");
      std::lock_guard lock(mu);
      outcomes[r.outcome]++;
      if (r.task) ids.insert(r.task->id);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(outcomes[CreateOutcome::created], 1);
  EXPECT_EQ(outcomes[CreateOutcome::existing], kThreads - 1);
  EXPECT_EQ(ids.size(), 1u);
}

TEST(TaskRepo, QuotaHoldsUnderConcurrency) {
  TaskRepo repo(shared_pool(), {.max_unfinished_per_user = 5});
  const std::string owner = make_user(shared_pool());
  constexpr int kThreads = 8;
  std::latch go(kThreads);
  std::atomic<int> created{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      const TaskCreateResult r = repo.create(owner, params(i));
      if (r.outcome == CreateOutcome::created) created++;
      if (r.outcome == CreateOutcome::quota_exceeded) {
        refused++;
        EXPECT_EQ(r.unfinished, 5);
        EXPECT_FALSE(r.task);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 5);
  EXPECT_EQ(refused.load(), 3);
  EXPECT_EQ(repo.count_by_status(owner).queued, 5);

  // Running tasks count too; a finished one frees a slot.
  const auto page = repo.list(owner);
  ASSERT_EQ(repo.mark_running(page.tasks[0].id, "w", "cpu").status, ClaimStatus::claimed);
  EXPECT_EQ(repo.create(owner, params(9)).outcome, CreateOutcome::quota_exceeded);
  ASSERT_TRUE(repo.mark_failed(page.tasks[0].id, "x"));
  EXPECT_EQ(repo.create(owner, params(9)).outcome, CreateOutcome::created);
  EXPECT_EQ(repo.create(owner, params(10)).outcome, CreateOutcome::quota_exceeded);

  // Another user is unaffected; a replayed key is answered even at the quota.
  EXPECT_EQ(repo.create(make_user(shared_pool()), params(1)).outcome, CreateOutcome::created);
}

TEST(TaskRepo, IdempotentReplayIsAnsweredAtTheQuota) {
  TaskRepo repo(shared_pool(), {.max_unfinished_per_user = 1});
  const std::string owner = make_user(shared_pool());
  const auto first = repo.create(owner, params(1), "k");
  ASSERT_EQ(first.outcome, CreateOutcome::created);
  EXPECT_EQ(repo.create(owner, params(1), "k").outcome, CreateOutcome::existing);
  EXPECT_EQ(repo.create(owner, params(1), "k2").outcome, CreateOutcome::quota_exceeded);
}

TEST(TaskRepo, CreateForAnUnknownOwnerIsRefused) {
  TaskRepo repo(shared_pool());
  EXPECT_EQ(repo.create("00000000-0000-4000-8000-000000000000", params(0)).outcome, CreateOutcome::unknown_owner);
  EXPECT_EQ(repo.create("nobody", params(0)).outcome, CreateOutcome::unknown_owner);
}

TEST(TaskRepo, WorkerLifecycle) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const TaskRecord t = create_ok(repo, owner);

  const ClaimResult c1 = repo.mark_running(t.id, "worker-a", "cpu:avx512 x2");
  ASSERT_EQ(c1.status, ClaimStatus::claimed);
  EXPECT_EQ(c1.task->status, TaskStatus::running);
  EXPECT_EQ(c1.task->attempts, 1);
  EXPECT_EQ(c1.task->worker, "worker-a");
  EXPECT_EQ(c1.task->backend, "cpu:avx512 x2");
  EXPECT_TRUE(c1.task->started_at);

  // A second worker may not take a running task unless it reclaims it.
  const ClaimResult c2 = repo.mark_running(t.id, "worker-b", "cuda:H100");
  EXPECT_EQ(c2.status, ClaimStatus::not_claimable);
  EXPECT_EQ(c2.task->worker, "worker-a");
  // The same worker (restarted, re-reading its pending entries) may.
  EXPECT_EQ(repo.mark_running(t.id, "worker-a", "cpu").status, ClaimStatus::claimed);
  const ClaimResult c3 = repo.mark_running(t.id, "worker-b", "cuda:H100", /*reclaim=*/true);
  ASSERT_EQ(c3.status, ClaimStatus::claimed);
  EXPECT_EQ(c3.task->attempts, 3);
  EXPECT_EQ(c3.task->worker, "worker-b");

  EXPECT_TRUE(repo.set_progress(t.id, 0.5));
  EXPECT_TRUE(repo.set_progress(t.id, 0.25));  // accepted, but never backwards
  EXPECT_DOUBLE_EQ(repo.get_by_id(t.id)->progress, 0.5);
  EXPECT_TRUE(repo.set_progress(t.id, 7.0));  // clamped
  EXPECT_DOUBLE_EQ(repo.get_by_id(t.id)->progress, 1.0);
  EXPECT_FALSE(repo.set_progress(t.id, std::nan("")));

  const RenderOutcome out{"cuda:H100", "float", 123456789012LL, 1500, t.id + ".png", 4096};
  EXPECT_TRUE(repo.mark_done(t.id, out));
  EXPECT_TRUE(repo.mark_done(t.id, out));  // idempotent
  const TaskRecord done = *repo.get(owner, t.id);
  EXPECT_EQ(done.status, TaskStatus::done);
  EXPECT_EQ(done.progress, 1.0);
  EXPECT_EQ(done.backend, "cuda:H100");
  EXPECT_EQ(done.precision_used, "float");
  EXPECT_EQ(done.iterations, 123456789012LL);
  EXPECT_EQ(done.render_ms, 1500);
  EXPECT_EQ(done.file_path, t.id + ".png");
  EXPECT_EQ(done.file_size, 4096);
  EXPECT_TRUE(done.finished_at);
  EXPECT_GE(*done.finished_at, *done.started_at);

  // Finished is final.
  EXPECT_EQ(repo.mark_running(t.id, "worker-c", "cpu", true).status, ClaimStatus::not_claimable);
  EXPECT_FALSE(repo.set_progress(t.id, 0.1));
  EXPECT_FALSE(repo.mark_failed(t.id, "late"));
  EXPECT_FALSE(repo.mark_canceled(t.id));
  EXPECT_EQ(repo.get_by_id(t.id)->status, TaskStatus::done);
}

TEST(TaskRepo, MarkRunningManyClaimsABatchWithThePerTaskRules) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const TaskRecord queued = create_ok(repo, owner, params(1));
  const TaskRecord own = create_ok(repo, owner, params(2));          // running under this worker (restart)
  const TaskRecord elsewhere = create_ok(repo, owner, params(3));    // running under another worker
  const TaskRecord taken_over = create_ok(repo, owner, params(4));   // same, but reclaimed (XAUTOCLAIM)
  const TaskRecord done = create_ok(repo, owner, params(5));
  const TaskRecord deleted = create_ok(repo, owner, params(6));
  ASSERT_EQ(repo.mark_running(own.id, "w", "cpu").status, ClaimStatus::claimed);
  ASSERT_EQ(repo.mark_running(elsewhere.id, "other", "cpu").status, ClaimStatus::claimed);
  ASSERT_EQ(repo.mark_running(taken_over.id, "other", "cpu").status, ClaimStatus::claimed);
  ASSERT_TRUE(repo.mark_done(done.id, {"cpu", "double", 1, 1, done.id + ".png", 1}));
  ASSERT_TRUE(repo.remove(owner, deleted.id));

  const std::vector<ClaimRequest> requests{{queued.id, false},    {own.id, false},     {elsewhere.id, false},
                                           {taken_over.id, true}, {done.id, true},     {deleted.id, false},
                                           {"not-a-uuid", false}};
  const std::vector<ClaimResult> r = repo.mark_running_many(requests, "w", "cpu:avx512 x2");
  ASSERT_EQ(r.size(), requests.size());
  EXPECT_EQ(r[0].status, ClaimStatus::claimed);
  EXPECT_EQ(r[1].status, ClaimStatus::claimed);
  EXPECT_EQ(r[2].status, ClaimStatus::not_claimable);
  EXPECT_EQ(r[3].status, ClaimStatus::claimed);
  EXPECT_EQ(r[4].status, ClaimStatus::not_claimable);
  EXPECT_EQ(r[5].status, ClaimStatus::not_found);
  EXPECT_EQ(r[6].status, ClaimStatus::not_found);
  EXPECT_FALSE(r[5].task || r[6].task);

  ASSERT_TRUE(r[0].task && r[1].task && r[2].task && r[3].task && r[4].task);
  EXPECT_EQ(r[0].task->id, queued.id);
  EXPECT_EQ(r[0].task->status, TaskStatus::running);
  EXPECT_EQ(r[0].task->attempts, 1);
  EXPECT_EQ(r[0].task->worker, "w");
  EXPECT_EQ(r[0].task->backend, "cpu:avx512 x2");
  EXPECT_EQ(r[1].task->attempts, 2);
  EXPECT_EQ(r[2].task->worker, "other");  // untouched
  EXPECT_EQ(r[2].task->attempts, 1);
  EXPECT_EQ(r[3].task->worker, "w");
  EXPECT_EQ(r[3].task->attempts, 2);
  EXPECT_EQ(r[4].task->status, TaskStatus::done);
  // One transaction: every claim of the batch has the same started_at.
  EXPECT_EQ(r[0].task->started_at, r[1].task->started_at);
  EXPECT_EQ(r[0].task->started_at, r[3].task->started_at);
  EXPECT_EQ(repo.get_by_id(queued.id)->status, TaskStatus::running);
  EXPECT_EQ(repo.get_by_id(elsewhere.id)->worker, "other");

  // Empty and all-malformed batches touch nothing.
  EXPECT_TRUE(repo.mark_running_many({}, "w", "cpu").empty());
  const auto bad = repo.mark_running_many({{"x", true}, {"", false}}, "w", "cpu");
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].status, ClaimStatus::not_found);
  EXPECT_EQ(bad[1].status, ClaimStatus::not_found);
}

TEST(TaskRepo, MarkDoneManyIsIdempotentPerTask) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const TaskRecord a = create_ok(repo, owner, params(1));  // running
  const TaskRecord b = create_ok(repo, owner, params(2));  // running
  const TaskRecord q = create_ok(repo, owner, params(3));  // still queued: may be marked done
  const TaskRecord f = create_ok(repo, owner, params(4));  // failed meanwhile
  const TaskRecord c = create_ok(repo, owner, params(5));  // canceled meanwhile
  const TaskRecord d = create_ok(repo, owner, params(6));  // deleted meanwhile
  for (const auto* t : {&a, &b, &f, &c, &d}) ASSERT_EQ(repo.mark_running(t->id, "w", "cpu").status, ClaimStatus::claimed);
  ASSERT_TRUE(repo.mark_failed(f.id, "boom"));
  ASSERT_TRUE(repo.mark_canceled(c.id));
  ASSERT_TRUE(repo.remove(owner, d.id));

  auto outcome = [](const TaskRecord& t, std::int64_t size) {
    return RenderOutcome{"cpu:avx512 x2", "double", 1000 + size, 4, t.id + ".png", size};
  };
  const std::vector<DoneRequest> requests{{a.id, outcome(a, 10)}, {b.id, outcome(b, 20)}, {q.id, outcome(q, 30)},
                                          {f.id, outcome(f, 40)}, {c.id, outcome(c, 50)}, {d.id, outcome(d, 60)},
                                          {"nope", outcome(a, 70)}};
  const std::vector<bool> expected{true, true, true, false, false, false, false};
  EXPECT_EQ(repo.mark_done_many(requests), expected);
  EXPECT_EQ(repo.mark_done_many(requests), expected);  // a repeated call is harmless

  const TaskRecord ra = *repo.get_by_id(a.id);
  const TaskRecord rb = *repo.get_by_id(b.id);
  EXPECT_EQ(ra.status, TaskStatus::done);
  EXPECT_EQ(ra.progress, 1.0);
  EXPECT_EQ(ra.file_path, a.id + ".png");
  EXPECT_EQ(ra.file_size, 10);
  EXPECT_EQ(ra.iterations, 1010);
  EXPECT_EQ(ra.precision_used, "double");
  EXPECT_EQ(rb.file_size, 20);
  EXPECT_EQ(repo.get_by_id(q.id)->status, TaskStatus::done);
  // One transaction: the batch finished at one instant, kept by the repeat.
  EXPECT_EQ(ra.finished_at, rb.finished_at);
  EXPECT_EQ(repo.get_by_id(f.id)->status, TaskStatus::failed);
  EXPECT_EQ(repo.get_by_id(f.id)->error, "boom");
  EXPECT_FALSE(repo.get_by_id(f.id)->file_path);
  EXPECT_EQ(repo.get_by_id(c.id)->status, TaskStatus::canceled);
  EXPECT_FALSE(repo.get_by_id(d.id));

  EXPECT_TRUE(repo.mark_done_many({}).empty());
  EXPECT_EQ(repo.mark_done_many({{"", outcome(a, 1)}}), std::vector<bool>{false});
  // Done is final for the single-task calls too.
  EXPECT_EQ(repo.mark_running(a.id, "w2", "cpu", true).status, ClaimStatus::not_claimable);
  EXPECT_FALSE(repo.mark_failed(b.id, "late"));
}

TEST(TaskRepo, FailedAndCanceledAreFinalAndIdempotent) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const TaskRecord a = create_ok(repo, owner);
  const TaskRecord b = create_ok(repo, owner);

  EXPECT_TRUE(repo.mark_canceled(a.id));  // straight from queued
  EXPECT_TRUE(repo.mark_canceled(a.id));
  EXPECT_FALSE(repo.mark_done(a.id, {"cpu", "double", 1, 1, "a.png", 1}));  // worker must drop its file
  EXPECT_EQ(repo.mark_running(a.id, "w", "cpu").status, ClaimStatus::not_claimable);
  const TaskRecord ca = *repo.get_by_id(a.id);
  EXPECT_EQ(ca.status, TaskStatus::canceled);
  EXPECT_FALSE(ca.error);
  EXPECT_TRUE(ca.finished_at);

  ASSERT_EQ(repo.mark_running(b.id, "w", "cpu").status, ClaimStatus::claimed);
  EXPECT_TRUE(repo.mark_failed(b.id, "out of memory"));
  EXPECT_TRUE(repo.mark_failed(b.id, "again"));
  EXPECT_EQ(repo.get_by_id(b.id)->error, "out of memory");
  EXPECT_FALSE(repo.mark_canceled(b.id));
}

TEST(TaskRepo, BatchProgressUpdatesOnlyRunningTasks) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const TaskRecord a = create_ok(repo, owner), b = create_ok(repo, owner), c = create_ok(repo, owner);
  ASSERT_EQ(repo.mark_running(a.id, "w", "cpu").status, ClaimStatus::claimed);
  ASSERT_EQ(repo.mark_running(b.id, "w", "cpu").status, ClaimStatus::claimed);
  const std::size_t n = repo.set_progress_many({{a.id, 0.3}, {b.id, 0.6}, {c.id, 0.9}, {"bogus", 0.5}});
  EXPECT_EQ(n, 2u);
  EXPECT_DOUBLE_EQ(repo.get_by_id(a.id)->progress, 0.3);
  EXPECT_DOUBLE_EQ(repo.get_by_id(b.id)->progress, 0.6);
  EXPECT_DOUBLE_EQ(repo.get_by_id(c.id)->progress, 0.0);  // queued: untouched
  EXPECT_EQ(repo.set_progress_many({}), 0u);
}

TEST(TaskRepo, GlobalCountsAndUnfinishedIds) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const StatusCounts before = repo.count_all_by_status();
  const TaskRecord q = create_ok(repo, owner), r = create_ok(repo, owner), d = create_ok(repo, owner);
  ASSERT_EQ(repo.mark_running(r.id, "w", "cpu").status, ClaimStatus::claimed);
  ASSERT_TRUE(repo.mark_done(d.id, {"cpu", "double", 1, 1, "d.png", 1}));
  const StatusCounts after = repo.count_all_by_status();
  EXPECT_EQ(after.queued - before.queued, 1);
  EXPECT_EQ(after.running - before.running, 1);
  EXPECT_EQ(after.done - before.done, 1);

  const auto ids = repo.list_unfinished_ids();
  const std::set<std::string> set(ids.begin(), ids.end());
  EXPECT_TRUE(set.count(q.id));
  EXPECT_TRUE(set.count(r.id));
  EXPECT_FALSE(set.count(d.id));
  const auto pos_q = std::find(ids.begin(), ids.end(), q.id), pos_r = std::find(ids.begin(), ids.end(), r.id);
  EXPECT_LT(pos_q, pos_r);  // oldest first
}

TEST(TaskRepo, OldIdempotencyKeysCanBePurged) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const auto first = repo.create(owner, params(1), "purge-me");
  ASSERT_EQ(first.outcome, CreateOutcome::created);
  EXPECT_EQ(repo.purge_idempotency_keys(std::chrono::hours(1)), 0u);
  EXPECT_EQ(repo.create(owner, params(1), "purge-me").outcome, CreateOutcome::existing);
  EXPECT_GE(repo.purge_idempotency_keys(std::chrono::seconds(0)), 1u);
  EXPECT_EQ(repo.create(owner, params(1), "purge-me").outcome, CreateOutcome::created);
}

TEST(TaskRepo, MalformedIdsFindNothing) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  for (const char* bad : {"", "abc", "../x", "'; DROP TABLE tasks; --", "00000000-0000-4000-8000-00000000000"}) {
    EXPECT_FALSE(repo.get(owner, bad)) << bad;
    EXPECT_FALSE(repo.get_by_id(bad)) << bad;
    EXPECT_FALSE(repo.remove(owner, bad)) << bad;
    EXPECT_EQ(repo.mark_running(bad, "w", "cpu").status, ClaimStatus::not_found) << bad;
    EXPECT_FALSE(repo.set_progress(bad, 0.5)) << bad;
    EXPECT_FALSE(repo.mark_failed(bad, "x")) << bad;
  }
  // Upper-case ids are the same ids.
  const TaskRecord t = create_ok(repo, owner);
  std::string upper = t.id;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_TRUE(repo.get(owner, upper));
  EXPECT_EQ(repo.get(owner, upper)->id, t.id);
}

// The quota counter agrees with the tasks table.
void expect_counter_right(TaskRepo& repo, const std::string& owner) {
  EXPECT_EQ(repo.unfinished(owner), repo.count_by_status(owner).unfinished());
}

Submission single(const std::string& owner, const json& p, std::optional<std::string> key = std::nullopt) {
  return Submission{owner, {p}, false, std::move(key)};
}

Submission batch(const std::string& owner, std::vector<json> ps, std::optional<std::string> key = std::nullopt) {
  return Submission{owner, std::move(ps), true, std::move(key)};
}

std::vector<std::string> ids_of(const std::vector<TaskRecord>& tasks) {
  std::vector<std::string> ids;
  for (const auto& t : tasks) ids.push_back(t.id);
  return ids;
}

TEST(TaskRepo, CreateManyGivesEverySubmissionItsOwnOutcome) {
  TaskRepo repo(shared_pool(), {.max_unfinished_per_user = 3});
  const std::string a = make_user(shared_pool());
  const std::string b = make_user(shared_pool());
  const std::string full = make_user(shared_pool());
  ASSERT_EQ(repo.create_many({batch(full, {params(1), params(2), params(3)})})[0].outcome, CreateOutcome::created);
  const std::vector<Submission> group{
      single(a, params(1)),                                       // 0 created
      batch(b, {params(1), params(2)}, "kb"),                     // 1 created
      single(a, params(2), "ka"),                                 // 2 created
      single(a, params(2), "ka"),                                 // 3 the same again: 2's task
      single(a, params(3), "ka"),                                 // 4 same key, other params: conflict
      batch(b, {params(3), params(4)}),                           // 5 b has 2 of 3: refused whole
      single(full, params(4)),                                    // 6 quota
      single("00000000-0000-4000-8000-000000000000", params(1)),  // 7 no such user
      single("nobody", params(1)),                                // 8 not even an id
      single(b, params(5)),                                       // 9 b's third
      batch(b, {params(1), params(2)}, "kb"),                     // 10 1 again
  };
  const std::vector<SubmissionResult> r = repo.create_many(group);
  ASSERT_EQ(r.size(), group.size());
  const std::vector<CreateOutcome> expected{
      CreateOutcome::created,        CreateOutcome::created,        CreateOutcome::created,
      CreateOutcome::existing,       CreateOutcome::idempotency_conflict, CreateOutcome::quota_exceeded,
      CreateOutcome::quota_exceeded, CreateOutcome::unknown_owner,  CreateOutcome::unknown_owner,
      CreateOutcome::created,        CreateOutcome::existing};
  for (std::size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i].outcome, expected[i]) << "submission " << i;

  ASSERT_EQ(r[1].tasks.size(), 2u);
  EXPECT_EQ(r[1].tasks[0].params, params(1));  // in the submission's order
  EXPECT_EQ(r[1].tasks[1].params, params(2));
  EXPECT_LT(r[1].tasks[0].created_at, r[1].tasks[1].created_at);
  EXPECT_EQ(ids_of(r[3].tasks), ids_of(r[2].tasks));
  EXPECT_EQ(ids_of(r[4].tasks), ids_of(r[2].tasks));
  EXPECT_EQ(ids_of(r[10].tasks), ids_of(r[1].tasks));
  EXPECT_TRUE(r[5].tasks.empty());
  EXPECT_EQ(r[5].unfinished, 2);
  EXPECT_EQ(r[6].unfinished, 3);
  EXPECT_EQ(r[0].unfinished, 0);
  EXPECT_EQ(r[2].unfinished, 1);
  EXPECT_EQ(r[9].unfinished, 2);

  EXPECT_EQ(repo.count_by_status(a).queued, 2);
  EXPECT_EQ(repo.count_by_status(b).queued, 3);
  EXPECT_EQ(repo.count_by_status(full).queued, 3);
  for (const auto& o : {a, b, full}) expect_counter_right(repo, o);
  // One transaction: the keys were stored with their tasks.
  EXPECT_EQ(repo.create(a, params(2), "ka").outcome, CreateOutcome::existing);
  EXPECT_TRUE(repo.create_many({}).empty());
  EXPECT_THROW((void)repo.create_many({Submission{a, {}, true, std::nullopt}}), std::invalid_argument);
  EXPECT_THROW((void)repo.create_many({Submission{a, {params(1), params(2)}, false, std::nullopt}}),
               std::invalid_argument);
  EXPECT_THROW((void)repo.create_many({batch(a, std::vector<json>(kMaxBatchTasks + 1, params(1)))}),
               std::invalid_argument);
  EXPECT_THROW((void)repo.create_many({single(a, params(1), std::string("a\0b", 3))}), std::invalid_argument);
}

TEST(TaskRepo, ABatchOverTheQuotaCreatesNothing) {
  TaskRepo repo(shared_pool(), {.max_unfinished_per_user = 5});
  const std::string owner = make_user(shared_pool());
  std::vector<json> six;
  for (int i = 0; i < 6; ++i) six.push_back(params(i));
  const auto over = repo.create_many({batch(owner, six)});
  EXPECT_EQ(over[0].outcome, CreateOutcome::quota_exceeded);
  EXPECT_EQ(repo.count_by_status(owner).total(), 0);
  six.pop_back();
  EXPECT_EQ(repo.create_many({batch(owner, six)})[0].outcome, CreateOutcome::created);
  EXPECT_EQ(repo.create(owner, params(9)).outcome, CreateOutcome::quota_exceeded);
  EXPECT_EQ(repo.unfinished(owner), 5);
  // A thousand tasks in one submission, without a quota.
  TaskRepo unlimited(shared_pool(), {.max_unfinished_per_user = 0});
  const std::vector<json> many(kMaxBatchTasks, params(1));
  const auto big = unlimited.create_many({batch(owner, many, "big")});
  ASSERT_EQ(big[0].outcome, CreateOutcome::created);
  const std::vector<std::string> big_ids = ids_of(big[0].tasks);
  EXPECT_EQ(std::set<std::string>(big_ids.begin(), big_ids.end()).size(), kMaxBatchTasks);
  EXPECT_EQ(unlimited.create_many({batch(owner, many, "big")})[0].outcome, CreateOutcome::existing);
  EXPECT_EQ(repo.unfinished(owner), 1005);
  expect_counter_right(repo, owner);
}

TEST(TaskRepo, AnIdempotencyKeyCoversAWholeBatch) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const std::vector<json> three{params(1), params(2), params(3)};
  const auto first = repo.create_many({batch(owner, three, "batch-key")})[0];
  ASSERT_EQ(first.outcome, CreateOutcome::created);
  const auto again = repo.create_many({batch(owner, three, "batch-key")})[0];
  EXPECT_EQ(again.outcome, CreateOutcome::existing);
  EXPECT_EQ(ids_of(again.tasks), ids_of(first.tasks));
  // Another batch, a reordered one, a shorter one, or a single task under the key: conflicts.
  for (const Submission& other : {batch(owner, {params(1), params(2), params(4)}, "batch-key"),
                                  batch(owner, {params(3), params(2), params(1)}, "batch-key"),
                                  batch(owner, {params(1), params(2)}, "batch-key"),
                                  single(owner, params(1), "batch-key")}) {
    const auto r = repo.create_many({other})[0];
    EXPECT_EQ(r.outcome, CreateOutcome::idempotency_conflict);
    EXPECT_EQ(ids_of(r.tasks), ids_of(first.tasks));
  }
  // A single task's key does not answer a batch of that one task.
  ASSERT_EQ(repo.create(owner, params(5), "single-key").outcome, CreateOutcome::created);
  EXPECT_EQ(repo.create_many({batch(owner, {params(5)}, "single-key")})[0].outcome,
            CreateOutcome::idempotency_conflict);
  // Deleted tasks drop out of the replay; once all are gone the key is free.
  ASSERT_TRUE(repo.remove(owner, first.tasks[1].id));
  const auto partial = repo.create_many({batch(owner, three, "batch-key")})[0];
  EXPECT_EQ(partial.outcome, CreateOutcome::existing);
  EXPECT_EQ(ids_of(partial.tasks), (std::vector<std::string>{first.tasks[0].id, first.tasks[2].id}));
  ASSERT_TRUE(repo.remove(owner, first.tasks[0].id));
  ASSERT_TRUE(repo.remove(owner, first.tasks[2].id));
  const auto fresh = repo.create_many({batch(owner, three, "batch-key")})[0];
  EXPECT_EQ(fresh.outcome, CreateOutcome::created);
  EXPECT_EQ(fresh.tasks.size(), 3u);
  expect_counter_right(repo, owner);
}

TEST(TaskRepo, TheUnfinishedCounterFollowsEveryTransition) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const std::string other = make_user(shared_pool());
  EXPECT_EQ(repo.unfinished(owner), 0);
  EXPECT_FALSE(repo.unfinished("00000000-0000-4000-8000-000000000000"));
  std::vector<std::string> ids;
  for (int i = 0; i < 9; ++i) ids.push_back(create_ok(repo, owner, params(i)).id);
  const std::string theirs = create_ok(repo, other).id;
  EXPECT_EQ(repo.unfinished(owner), 9);

  const auto step = [&](int expected) {
    EXPECT_EQ(repo.unfinished(owner), expected);
    expect_counter_right(repo, owner);
    expect_counter_right(repo, other);
  };
  ASSERT_EQ(repo.mark_running_many({{ids[0], false}, {ids[1], false}, {ids[2], false}}, "w", "cpu").size(), 3u);
  step(9);  // queued -> running is still unfinished
  ASSERT_TRUE(repo.mark_done(ids[0], {"cpu", "double", 1, 1, "0.png", 1}));
  ASSERT_TRUE(repo.mark_done(ids[0], {"cpu", "double", 1, 1, "0.png", 1}));  // repeated: counted once
  step(8);
  // A batch over two owners, one task twice, one already done.
  const RenderOutcome out{"cpu", "double", 1, 1, "x.png", 1};
  EXPECT_EQ(repo.mark_done_many({{ids[1], out}, {theirs, out}, {ids[1], out}, {ids[0], out}, {ids[3], out}}),
            (std::vector<bool>{true, true, true, true, true}));
  step(6);
  EXPECT_EQ(repo.unfinished(other), 0);
  ASSERT_TRUE(repo.mark_failed(ids[2], "boom"));
  ASSERT_TRUE(repo.mark_failed(ids[2], "again"));
  step(5);
  ASSERT_TRUE(repo.mark_canceled(ids[4]));
  step(4);
  const auto canceled = repo.cancel(owner, ids[5]);
  ASSERT_TRUE(canceled);
  EXPECT_TRUE(canceled->canceled);
  step(3);
  EXPECT_FALSE(repo.cancel(owner, ids[5])->canceled);  // already canceled: unchanged
  step(3);
  ASSERT_TRUE(repo.remove(owner, ids[6]));  // queued
  step(2);
  ASSERT_TRUE(repo.remove(owner, ids[0]));  // done: no slot to give back
  ASSERT_TRUE(repo.remove(owner, ids[4]));  // canceled: neither
  step(2);
  ASSERT_EQ(repo.mark_running(ids[7], "w", "cpu").status, ClaimStatus::claimed);
  ASSERT_TRUE(repo.remove(owner, ids[7]));  // running
  step(1);
  EXPECT_FALSE(repo.mark_done(ids[7], out));  // the worker finds it gone: nothing to give back
  step(1);
}

TEST(TaskRepo, CancelIsOwnerScopedAndLeavesFinishedTasksAlone) {
  TaskRepo repo(shared_pool());
  const std::string owner = make_user(shared_pool());
  const std::string mallory = make_user(shared_pool());
  const TaskRecord queued = create_ok(repo, owner, params(1));
  const TaskRecord running = create_ok(repo, owner, params(2));
  const TaskRecord done = create_ok(repo, owner, params(3));
  ASSERT_EQ(repo.mark_running(running.id, "w", "cpu").status, ClaimStatus::claimed);
  ASSERT_TRUE(repo.set_progress(running.id, 0.25));
  ASSERT_TRUE(repo.mark_done(done.id, {"cpu", "double", 1, 1, done.id + ".png", 1}));

  EXPECT_FALSE(repo.cancel(mallory, queued.id));
  EXPECT_FALSE(repo.cancel(owner, "00000000-0000-4000-8000-000000000000"));
  EXPECT_FALSE(repo.cancel(owner, "not-a-uuid"));
  EXPECT_EQ(repo.get_by_id(queued.id)->status, TaskStatus::queued);

  const auto q = repo.cancel(owner, queued.id);
  ASSERT_TRUE(q);
  EXPECT_TRUE(q->canceled);
  EXPECT_EQ(q->task.status, TaskStatus::canceled);
  EXPECT_TRUE(q->task.finished_at);
  EXPECT_FALSE(q->task.error);
  const auto r = repo.cancel(owner, running.id);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->canceled);
  EXPECT_EQ(r->task.status, TaskStatus::canceled);
  EXPECT_DOUBLE_EQ(r->task.progress, 0.25);
  // The worker side: no more progress, no done, no claim.
  EXPECT_FALSE(repo.set_progress(running.id, 0.5));
  EXPECT_FALSE(repo.mark_done(running.id, {"cpu", "double", 1, 1, "r.png", 1}));
  EXPECT_EQ(repo.mark_running(running.id, "w", "cpu", true).status, ClaimStatus::not_claimable);

  const auto d = repo.cancel(owner, done.id);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->canceled);
  EXPECT_EQ(d->task.status, TaskStatus::done);
  EXPECT_EQ(d->task.file_path, done.id + ".png");
  expect_counter_right(repo, owner);
  EXPECT_EQ(repo.unfinished(owner), 0);
}

TEST(TaskRepo, ConcurrentGroupsNeverPassTheQuota) {
  TaskRepo repo(shared_pool(), {.max_unfinished_per_user = 10});
  const std::string a = make_user(shared_pool());
  const std::string b = make_user(shared_pool());
  constexpr int kThreads = 8;
  std::latch go(kThreads);
  std::atomic<int> created_a{0}, created_b{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      // Owners in both orders across threads: rows are locked in id order, so no deadlock.
      std::vector<Submission> group{single(a, params(i)), batch(b, {params(1), params(2)})};
      if (i % 2) std::swap(group[0], group[1]);
      for (const auto& r : repo.create_many(group)) {
        if (r.outcome != CreateOutcome::created) continue;
        (r.tasks.size() == 1 ? created_a : created_b) += static_cast<int>(r.tasks.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created_a.load(), kThreads);
  EXPECT_EQ(created_b.load(), 10);
  EXPECT_EQ(repo.count_by_status(b).queued, 10);
  expect_counter_right(repo, a);
  expect_counter_right(repo, b);
}

TEST(TaskRepo, WorkerBatchesOverTheSameOwnersInOtherOrdersDoNotDeadlock) {
  TaskRepo repo(shared_pool());
  const std::string a = make_user(shared_pool());
  const std::string b = make_user(shared_pool());
  constexpr int kRounds = 20;
  std::vector<std::string> as, bs;
  for (int i = 0; i < 2 * kRounds; ++i) {
    as.push_back(create_ok(repo, a, params(i)).id);
    bs.push_back(create_ok(repo, b, params(i)).id);
  }
  const RenderOutcome out{"cpu", "double", 1, 1, "x.png", 1};
  std::latch go(2);
  std::atomic<int> failures{0};
  const auto worker = [&](int side) {
    go.arrive_and_wait();
    for (int i = 0; i < kRounds; ++i) {
      const std::size_t k = static_cast<std::size_t>(2 * i + side);
      try {
        // One finishes a's task first, the other b's.
        const auto r = side == 0 ? repo.mark_done_many({{as[k], out}, {bs[k], out}})
                                 : repo.mark_done_many({{bs[k], out}, {as[k], out}});
        if (r != std::vector<bool>{true, true}) ++failures;
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    }
  };
  std::thread t0(worker, 0), t1(worker, 1);
  t0.join();
  t1.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(repo.unfinished(a), 0);
  EXPECT_EQ(repo.unfinished(b), 0);
}

TEST(TaskStatusNames, RoundTrip) {
  for (TaskStatus s : {TaskStatus::queued, TaskStatus::running, TaskStatus::done, TaskStatus::failed,
                       TaskStatus::canceled})
    EXPECT_EQ(parse_task_status(to_string(s)), s);
  EXPECT_FALSE(parse_task_status("deleted"));
  EXPECT_FALSE(is_finished(TaskStatus::running));
  EXPECT_TRUE(is_finished(TaskStatus::canceled));
}

}  // namespace
}  // namespace fractal::storage
