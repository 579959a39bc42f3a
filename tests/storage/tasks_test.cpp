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
