// The staged worker's own guarantees: a task left done-but-unacknowledged by a
// killed worker is not rendered again, the liveness file goes stale while the
// worker is stuck (and `fractal-worker --check` says so), and temp files a
// killed encode left behind are removed.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <fstream>

#include "scheduler/liveness.h"
#include "tests/scheduler/scheduler_test_env.h"
#include "tests/support/child_process.h"

namespace fractal::scheduler::testing {
namespace {

using storage::TaskStatus;

// Exit status of `fractal-worker --check --health-file <file> --check-max-age <s>`.
int run_check(const std::string& binary, const std::filesystem::path& file, int max_age_s,
              const std::filesystem::path& log) {
  test::SpawnOptions o;
  o.argv = {binary, "--check", "--health-file", file.string(), "--check-max-age", std::to_string(max_age_s)};
  o.log_file = log;
  const int status = test::run_to_completion(o, std::chrono::seconds(10));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(SchedulerTest, ATaskMarkedDoneButNotAcknowledgedByAKilledWorkerIsNotRenderedAgain) {
  // The state a worker killed between "mark done" and XACK leaves behind: the
  // task done with its file, its entry still pending for the dead consumer.
  const std::string id = submit(small_params());
  ASSERT_EQ(queue_->read("dead-worker", 10, 100ms).size(), 1u);
  ASSERT_EQ(repo_->mark_running_many({{id, false}}, "dead-worker", "cpu:test x1").front().status,
            storage::ClaimStatus::claimed);
  const auto file = data_dir_ / (id + ".png");
  std::ofstream(file) << "the image the dead worker wrote";
  storage::RenderOutcome outcome;
  outcome.backend = "cpu:test x1";
  outcome.precision_used = "double";
  outcome.file_path = file.filename().string();
  ASSERT_TRUE(repo_->mark_done(id, outcome));
  const auto written = std::filesystem::last_write_time(file);
  ASSERT_EQ(queue_->depth().pending, 1);

  WorkerOptions o = options("worker-b");
  o.claim_timeout = 500ms;  // takes the dead consumer's entry over quickly
  Worker& b = start_worker(o);
  ASSERT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 20s)) << "the entry is acknowledged";
  EXPECT_EQ(b.counters().tasks_skipped, 1);
  EXPECT_EQ(b.counters().render_calls, 0) << "nothing rendered twice";
  EXPECT_EQ(b.counters().tasks_rendered, 0);
  EXPECT_EQ(get(id).status, TaskStatus::done);
  EXPECT_EQ(get(id).backend, "cpu:test x1") << "the recorded result stays";
  EXPECT_EQ(std::filesystem::last_write_time(file), written) << "the file is not rewritten";
}

TEST_F(SchedulerTest, LivenessFileGoesStaleWhileTheWorkerIsStuckAndRecovers) {
  constexpr int kGated = 4321;
  auto renderer = std::make_shared<GatedRenderer>(kGated);
  WorkerOptions o = options("w1");
  o.renderer = renderer;
  o.heartbeat_interval = 100ms;
  o.health_file = data_dir_ / "w1.health";
  o.claim_timeout = 60s;
  start_worker(o);
  const auto log = data_dir_ / "check.log";
  // Idle: the intake loop turns every block time, so the worker is alive.
  ASSERT_TRUE(wait_until([&] { return check_liveness(o.health_file, 2s).ok; }, 10s));
  EXPECT_EQ(run_check(worker_binary(), o.health_file, 2, log), 0) << test::file_tail(log);

  // A render that makes no progress (held at the gate) holds the render
  // thread: no loop turn, no progress, no encode.
  const std::string id = submit(small_params(kGated));
  ASSERT_TRUE(renderer->wait_held(20s));
  ASSERT_TRUE(wait_until([&] { return !check_liveness(o.health_file, 2s).ok; }, 15s));
  EXPECT_NE(check_liveness(o.health_file, 2s).message.find("no progress"), std::string::npos);
  EXPECT_EQ(run_check(worker_binary(), o.health_file, 2, log), 1) << test::file_tail(log);
  EXPECT_NE(test::file_tail(log).find("unhealthy"), std::string::npos) << test::file_tail(log);

  renderer->open();
  ASSERT_TRUE(wait_status(id, TaskStatus::done, 30s));
  ASSERT_TRUE(wait_until([&] { return check_liveness(o.health_file, 2s).ok; }, 10s));
  EXPECT_EQ(run_check(worker_binary(), o.health_file, 2, log), 0) << test::file_tail(log);
}

TEST_F(SchedulerTest, LivenessStaysFreshWhileADeepViewsReferenceOrbitIsComputed) {
  // A reference orbit of a million iterations at ~16,700 bits: many seconds in
  // MPFR during which no sample finishes. The liveness probe must not take that
  // for a hung worker (Kubernetes would restart it, and the next worker too).
  WorkerOptions o = options("w1");
  o.heartbeat_interval = 100ms;
  o.progress_interval = 200ms;
  o.health_file = data_dir_ / "w1.health";
  start_worker(o);
  ASSERT_TRUE(wait_until([&] { return check_liveness(o.health_file, 2s).ok; }, 10s));
  const std::string id = submit({{"width", 4}, {"height", 4}, {"center", {"-0.1", "0"}},
                                 {"scale", "1e-5000"}, {"max_iter", 1'000'000}, {"precision", "deep"}});
  ASSERT_TRUE(wait_status(id, TaskStatus::running, 20s));
  const auto until = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < until) {
    const auto c = check_liveness(o.health_file, 2s);
    ASSERT_TRUE(c.ok) << c.message;
    std::this_thread::sleep_for(100ms);
  }
  // Still in the orbit (its first tenth of the progress), and the progress shows it.
  EXPECT_GT(get(id).progress, 0.0);
  EXPECT_LT(get(id).progress, 0.1);
  EXPECT_EQ(get(id).status, TaskStatus::running);
  const auto canceled = repo_->cancel(owner_, id);  // cancel stops the orbit too
  ASSERT_TRUE(canceled && canceled->canceled);
  EXPECT_TRUE(wait_status(id, TaskStatus::canceled, 20s));
}

TEST_F(SchedulerTest, ReconcilerRemovesTempFilesAKilledEncodeLeftBehind) {
  const auto partial = data_dir_ / ".partial";
  std::filesystem::create_directories(partial);
  const auto old_file = partial / "0b7f3a52-4a37-4e3e-9c55-1f6a0c4d2e11.123-0.png.tmp";
  const auto new_file = partial / "5d6a2b1c-8e9f-4a0b-b1c2-d3e4f5a6b7c8.456-1.png.tmp";
  std::ofstream(old_file) << "half an image";
  std::ofstream(new_file) << "an encode in progress";
  std::filesystem::last_write_time(old_file, std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));

  WorkerOptions o = options("w1");
  o.reconcile_interval = 200ms;
  start_worker(o);
  ASSERT_TRUE(wait_until([&] { return !std::filesystem::exists(old_file); }, 10s));
  EXPECT_TRUE(std::filesystem::exists(new_file)) << "a recent temp file may belong to an encode in progress";
}

}  // namespace
}  // namespace fractal::scheduler::testing
