// Recovery: dead workers, too many deliveries, Redis losing or keeping its
// data, Postgres going away, SIGTERM, and the real fractal-worker binary.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include "tests/scheduler/scheduler_test_env.h"
#include "tests/support/child_process.h"

namespace fractal::scheduler::testing {
namespace {

using storage::TaskStatus;

test::ChildProcess spawn_worker(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  test::SpawnOptions o;
  o.argv = argv;
  o.log_file = log;
  o.parent_death_signal = SIGKILL;
  return test::ChildProcess::spawn(o);
}

TEST_F(SchedulerTest, TaskOfAWorkerKilledMidRenderIsCompletedOnceByAnother) {
  const auto before = metrics();
  // ~1.2e10 iterations: a few seconds on two cores.
  const std::string id = submit(long_render_params(400, 300, 100'000));
  const auto log = data_dir_ / "worker-a.log";
  auto args = binary_args("worker-a");
  args.insert(args.end(), {"--claim-timeout", "2"});
  test::ChildProcess a = spawn_worker(args, log);
  ASSERT_TRUE(wait_until([&] {
    const auto t = find(id);
    return t && t->status == TaskStatus::running && t->worker == "worker-a" && t->progress > 0;
  }, 30s)) << test::file_tail(log);
  a.send_signal(SIGKILL);
  ASSERT_TRUE(a.wait_for_exit(5s));

  WorkerOptions o = options("worker-b");
  o.claim_timeout = 1500ms;
  Worker& b = start_worker(o);
  ASSERT_TRUE(wait_status(id, TaskStatus::done, 60s)) << test::file_tail(log);
  const auto t = get(id);
  EXPECT_EQ(t.worker, "worker-b");
  EXPECT_EQ(t.attempts, 2);
  EXPECT_EQ(files_of(id).size(), 1u) << "one file, no temp files";
  // Counted after mark_done, before the XACK: wait for the acknowledgement.
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s));
  EXPECT_EQ(b.counters().tasks_rendered, 1);
  EXPECT_EQ(b.counters().redeliveries, 1);
  const auto after = metrics();
  EXPECT_EQ(after.tasks_rendered - before.tasks_rendered, 1);
  EXPECT_EQ(after.redeliveries - before.redeliveries, 1);
}

TEST_F(SchedulerTest, AWorkerWhoseClaimWasTakenOverNeitherWritesNorCountsTwice) {
  const auto before = metrics();
  const std::string id = submit(long_render_params(400, 300, 100'000));
  WorkerOptions o = options("w1");
  o.claim_timeout = 1500ms;
  Worker& w = start_worker(o);
  ASSERT_TRUE(wait_rendering(id));
  // Another worker takes the entry over (as after a long stall) and finishes first.
  ASSERT_EQ(queue_->autoclaim("w2", 0ms, 10).size(), 1u);
  ASSERT_TRUE(wait_until([&] { return w.counters().claims_lost == 1; }, 5s));
  storage::RenderOutcome theirs;
  theirs.backend = "cpu:other x1";
  theirs.precision_used = "double";
  theirs.file_path = id + ".png";
  ASSERT_TRUE(repo_->mark_done(id, theirs));

  ASSERT_TRUE(wait_until([&] { return w.in_flight() == 0; }, 30s));
  EXPECT_EQ(w.counters().tasks_rendered, 0);
  EXPECT_EQ(get(id).backend, "cpu:other x1") << "the first recorded result stays";
  EXPECT_TRUE(files_of(id).empty()) << "w1 wrote nothing";
  EXPECT_EQ(metrics().tasks_rendered - before.tasks_rendered, 0);
  // The task is finished, so w1 may acknowledge the entry it lost (XACK does
  // not check the owner); w2 then finds its entry gone and the task done.
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s));
}

TEST_F(SchedulerTest, TaskDeliveredTooOftenIsFailedAndDeadLettered) {
  const auto before = metrics();
  const std::string id = submit(small_params());
  // Three deliveries to consumers that died without acknowledging.
  ASSERT_EQ(queue_->read("ghost-1", 10, 10ms).size(), 1u);
  ASSERT_EQ(queue_->autoclaim("ghost-2", 0ms, 10).size(), 1u);
  const auto third = queue_->autoclaim("ghost-3", 0ms, 10);
  ASSERT_EQ(third.size(), 1u);
  ASSERT_EQ(third[0].deliveries, 3);

  WorkerOptions o = options("w1");
  o.claim_timeout = 300ms;
  Worker& w = start_worker(o);
  ASSERT_TRUE(wait_status(id, TaskStatus::failed, 20s));
  const auto t = get(id);
  ASSERT_TRUE(t.error);
  EXPECT_NE(t.error->find("render failed after 3 attempts"), std::string::npos) << *t.error;
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s));
  const auto dead = queue_->dead_letters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].task_id, id);
  EXPECT_EQ(dead[0].deliveries, 4);
  EXPECT_TRUE(files_of(id).empty());
  EXPECT_EQ(w.counters().dead_lettered, 1);
  const auto after = metrics();
  EXPECT_EQ(after.dead_letters - before.dead_letters, 1);
  EXPECT_EQ(after.tasks_rendered - before.tasks_rendered, 0);
}

TEST_F(SchedulerTest, ReconcilerReenqueuesTasksLostWhenRedisRestartsEmpty) {
  // `running` is held in its render until the test lets it go: how long a
  // render lasts on a loaded machine decides nothing here. (A render of fixed
  // cost could finish before Redis lost its data; then the worker would read
  // `queued` itself and nothing would be lost.)
  constexpr int kGated = 4321;
  auto renderer = std::make_shared<GatedRenderer>(kGated);
  WorkerOptions o = options("w1");
  o.renderer = renderer;
  o.claim_timeout = 3s;  // keep-alive and lease refresh every second
  o.reconcile_interval = 300ms;
  o.reconcile_min_age = 500ms;
  Worker& w = start_worker(o);
  // The worker renders `running` while `queued` waits in the stream.
  const std::string running = submit(interior_params(400, 300, kGated));
  ASSERT_TRUE(renderer->wait_held(30s));
  ASSERT_EQ(get(running).status, TaskStatus::running);
  const std::string queued = submit(small_params());

  redis().flushall();  // and restart: the AOF now replays an empty data set
  redis().stop();
  redis().start();
  // Both entries are gone (the reconciler may already have re-enqueued
  // `queued` if the restart was slow, but nothing can have read it: the
  // worker's only render thread is held).
  EXPECT_FALSE(queue_->contains_task(running));
  EXPECT_EQ(queue_->depth().pending, 0);

  // Re-enqueued while `running` is still being rendered, and the worker's
  // keep-alive re-created the lease of the task it renders.
  ASSERT_TRUE(wait_until([&] { return w.counters().reconciled >= 1; }, 30s));
  storage::RenderLeases leases(redis_options_, queue_options_.stream + ":");
  ASSERT_TRUE(wait_until([&] { return leases.holder(running) == "w1"; }, 30s));
  ASSERT_TRUE(wait_until([&] { return queue_->contains_task(queued); }, 5s));
  // A few more reconciler passes with `running` rendering and missing from the stream.
  std::this_thread::sleep_for(3 * o.reconcile_interval);
  EXPECT_FALSE(queue_->contains_task(running)) << "a task a live worker renders is not re-enqueued";
  EXPECT_EQ(get(running).status, TaskStatus::running);
  renderer->open();

  ASSERT_TRUE(wait_status(queued, TaskStatus::done, 60s));
  ASSERT_TRUE(wait_status(running, TaskStatus::done, 60s));
  EXPECT_EQ(get(running).attempts, 1) << "a task a live worker renders is not re-enqueued";
  EXPECT_EQ(get(queued).attempts, 1);
  EXPECT_TRUE(wait_until([&] { return w.in_flight() == 0; }, 5s));
  EXPECT_EQ(w.counters().reconciled, 1);
  EXPECT_EQ(w.counters().tasks_rendered, 2);
  EXPECT_EQ(w.counters().tasks_skipped, 0) << "no duplicate entry was read";
  EXPECT_EQ(files_of(running).size(), 1u);
  EXPECT_EQ(files_of(queued).size(), 1u);
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s));
}

TEST_F(SchedulerTest, QueueSurvivesARedisRestartWithAof) {
  WorkerOptions o = options("w1");
  o.reconcile_interval = 300ms;  // would re-enqueue lost tasks: it must find none
  Worker& w = start_worker(o);
  const std::string running = submit(long_render_params(400, 300, 60'000));
  ASSERT_TRUE(wait_rendering(running));
  const std::string waiting = submit(small_params());  // undelivered while the worker renders

  redis().stop();  // SIGTERM: Redis writes the AOF out
  redis().start();
  const auto depth = queue_->depth();
  EXPECT_GE(depth.length, 1);

  ASSERT_TRUE(wait_status(running, TaskStatus::done, 60s));
  ASSERT_TRUE(wait_status(waiting, TaskStatus::done, 60s));
  EXPECT_EQ(get(running).attempts, 1);
  EXPECT_EQ(get(waiting).attempts, 1);
  EXPECT_EQ(w.counters().reconciled, 0);
  EXPECT_EQ(w.counters().claims_lost, 0);
  EXPECT_TRUE(wait_until([&] {
    const auto d = queue_->depth();
    return d.length == 0 && d.pending == 0;
  }, 5s));
}

TEST_F(SchedulerTest, WorkerRidesOutARedisLoadingItsAppendOnlyFile) {
  Worker& w = start_worker(options("w1"));
  const std::string first = submit(small_params());
  ASSERT_TRUE(wait_status(first, TaskStatus::done, 20s));

  // A large AOF: after the restart Redis answers LOADING for a while (~0.5 s
  // here), to the worker's reads, claims and keep-alives alike.
  redis().populate(400'000);
  const std::string running = submit(long_render_params(400, 300, 40'000));
  ASSERT_TRUE(wait_rendering(running));
  redis().stop();
  redis().start_no_wait();
  redis().wait_ready();
  const std::string later = submit(small_params());

  ASSERT_TRUE(wait_status(running, TaskStatus::done, 60s));
  ASSERT_TRUE(wait_status(later, TaskStatus::done, 60s));
  EXPECT_TRUE(worker_thread_alive(w));
  EXPECT_EQ(get(running).attempts, 1);
  EXPECT_EQ(get(later).attempts, 1);
  EXPECT_EQ(files_of(running).size(), 1u);
  EXPECT_TRUE(wait_until([&] {
    const auto d = queue_->depth();
    return d.length == 0 && d.pending == 0;
  }, 5s));
  EXPECT_NE(redis().log_tail(20000).find("DB loaded from append only file"), std::string::npos);
}

TEST_F(SchedulerTest, ReconcilerForgetsIdempotencyKeysOlderThanADay) {
  const nlohmann::json params = to_json(*parse_task_spec(small_params()).spec);
  ASSERT_EQ(repo_->create(owner_, params, std::string_view("old-key")).outcome, storage::CreateOutcome::created);
  ASSERT_EQ(repo_->create(owner_, params, std::string_view("new-key")).outcome, storage::CreateOutcome::created);
  pool_->transact([&](pqxx::work& tx) {
    tx.exec_params("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old-key'");
  });
  auto keys = [&] {
    return pool_->transact([&](pqxx::work& tx) {
      std::vector<std::string> out;
      for (const auto& row : tx.exec("SELECT key FROM idempotency_keys ORDER BY key")) out.push_back(row[0].as<std::string>());
      return out;
    });
  };
  ASSERT_EQ(keys(), (std::vector<std::string>{"new-key", "old-key"}));
  WorkerOptions o = options("w1");
  o.reconcile_interval = 200ms;
  start_worker(o);
  EXPECT_TRUE(wait_until([&] { return keys() == std::vector<std::string>{"new-key"}; }, 10s));
  // A retry with the forgotten key is a new submission; the kept one still replays.
  EXPECT_EQ(repo_->create(owner_, params, std::string_view("new-key")).outcome, storage::CreateOutcome::existing);
}

TEST_F(SchedulerTest, WorkerRidesOutAPostgresOutage) {
  Worker& w = start_worker(options("w1"));
  const std::string first = submit(small_params());
  ASSERT_TRUE(wait_status(first, TaskStatus::done, 20s));

  // Mid-render: Postgres goes away; a second task arrives while it is down.
  const std::string running = submit(long_render_params(400, 300, 40'000));
  ASSERT_TRUE(wait_rendering(running));
  const std::string later = create_task(to_json(*parse_task_spec(small_params()).spec));
  postgres().stop();
  enqueue(later);
  // Both entries delivered: the render finished and the next read happened, all without Postgres.
  EXPECT_TRUE(wait_until([&] { return queue_->depth().pending == 2; }, 60s));
  EXPECT_TRUE(worker_thread_alive(w));
  postgres().start();

  ASSERT_TRUE(wait_status(running, TaskStatus::done, 60s));
  ASSERT_TRUE(wait_status(later, TaskStatus::done, 60s));
  EXPECT_EQ(get(running).attempts, 1);
  EXPECT_EQ(get(later).attempts, 1);
  EXPECT_EQ(files_of(running).size(), 1u);
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s));
  EXPECT_TRUE(worker_thread_alive(w));
  EXPECT_EQ(w.counters().tasks_rendered, 3);
}

TEST_F(SchedulerTest, WorkerWaitsOutAnUnwritableImageStoreWithoutFailingTheTask) {
  // The store cannot take files (here: its temp directory is a plain file,
  // which stops root too; in production an unmounted, read-only or full
  // volume): the task must wait, not fail, and finish once the store is back.
  Worker& w = start_worker(options("w1"));
  const std::filesystem::path partial = data_dir_ / ".partial";
  std::filesystem::remove_all(partial);
  std::ofstream(partial) << "not a directory";
  const std::string id = submit(small_params());
  ASSERT_TRUE(wait_until([&] { return get(id).status == TaskStatus::running; }, 20s));
  std::this_thread::sleep_for(1500ms);  // many write attempts
  EXPECT_EQ(get(id).status, TaskStatus::running) << get(id).error.value_or("");
  EXPECT_TRUE(worker_thread_alive(w));

  std::filesystem::remove(partial);  // the volume is back
  ASSERT_TRUE(wait_status(id, TaskStatus::done, 20s));
  EXPECT_EQ(get(id).attempts, 1);
  EXPECT_EQ(files_of(id).size(), 1u);
  EXPECT_TRUE(std::filesystem::is_directory(partial));
}

TEST_F(SchedulerTest, SigtermHandsTheRenderBackAndExitsZero) {
  const std::string id = submit(long_render_params(400, 300, 100'000));
  const auto log = data_dir_ / "worker-a.log";
  auto args = binary_args("worker-a");
  args.insert(args.end(), {"--drain-timeout", "0.3", "--claim-timeout", "60"});
  test::ChildProcess a = spawn_worker(args, log);
  ASSERT_TRUE(wait_rendering(id)) << test::file_tail(log);
  const auto t0 = std::chrono::steady_clock::now();
  a.send_signal(SIGTERM);
  ASSERT_TRUE(a.wait_for_exit(10s)) << test::file_tail(log);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, test::sanitizer_scaled(5s));
  ASSERT_TRUE(a.exit_status());
  EXPECT_TRUE(test::exited_ok(*a.exit_status())) << test::describe_wait_status(*a.exit_status()) << "\n"
                                                 << test::file_tail(log);
  // Handed back: a fresh, undelivered entry, so the next worker starts at
  // once instead of after the 60 s claim timeout.
  const auto depth = queue_->depth();
  EXPECT_EQ(depth.length, 1);
  EXPECT_EQ(depth.pending, 0);
  EXPECT_TRUE(files_of(id).size() <= 1u);

  WorkerOptions o = options("worker-b");
  o.claim_timeout = 60s;
  start_worker(o);
  ASSERT_TRUE(wait_status(id, TaskStatus::done, 30s));
  EXPECT_EQ(get(id).attempts, 2);
  EXPECT_EQ(get(id).worker, "worker-b");
}

TEST_F(SchedulerTest, HelpListsEveryOptionAndItsEnvironmentVariable) {
  const auto out = data_dir_ / "help.txt";
  test::SpawnOptions o;
  o.argv = {worker_binary(), "--help"};
  o.log_file = out;
  const int status = test::run_to_completion(o, 10s);
  EXPECT_TRUE(test::exited_ok(status));
  const std::string help = test::file_tail(out, 100000);
  for (const char* s :
       {"--pg", "FRACTAL_PG", "--redis", "FRACTAL_REDIS", "--data-dir", "FRACTAL_DATA_DIR", "--name",
        "FRACTAL_WORKER_NAME", "--backend", "FRACTAL_BACKEND", "--threads", "FRACTAL_THREADS", "--batch",
        "FRACTAL_BATCH", "--block-ms", "--claim-timeout", "FRACTAL_CLAIM_TIMEOUT", "--max-deliveries",
        "--reconcile-interval", "--encode-threads", "--png-compression", "--drain-timeout"}) {
    EXPECT_NE(help.find(s), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace fractal::scheduler::testing
