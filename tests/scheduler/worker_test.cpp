// The worker's normal path against real Postgres and Redis: render, batch,
// skip, cancel, fail, and share a queue.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <set>

#include "kernels/task_spec.h"
#include "tests/scheduler/scheduler_test_env.h"

namespace fractal::scheduler::testing {
namespace {

using storage::TaskStatus;

std::string head(const std::filesystem::path& p, std::size_t n) {
  std::ifstream in(p, std::ios::binary);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

TEST_F(SchedulerTest, RendersAQueuedTaskAndRecordsIt) {
  const auto before = metrics();
  const std::string png = submit(small_params());
  nlohmann::json it = small_params(300);
  it["output"] = "iterations";
  it["format"] = "tiff";
  const std::string tiff = submit(it);
  Worker& w = start_worker(options("w1"));
  ASSERT_TRUE(wait_status(png, TaskStatus::done, 20s));
  ASSERT_TRUE(wait_status(tiff, TaskStatus::done, 20s));

  for (const auto& [id, ext] : {std::pair{png, std::string("png")}, std::pair{tiff, std::string("tiff")}}) {
    const auto t = get(id);
    EXPECT_EQ(t.backend, w.backend());
    EXPECT_EQ(t.backend->rfind("cpu:", 0), 0u) << *t.backend;
    ASSERT_TRUE(t.iterations);
    EXPECT_GT(*t.iterations, 0);
    ASSERT_TRUE(t.render_ms);
    EXPECT_GE(*t.render_ms, 0);
    const TaskSpec spec = *parse_task_spec(t.params).spec;
    EXPECT_EQ(t.precision_used, std::string(to_string(precision_used(spec))));
    EXPECT_EQ(t.file_path, id + "." + ext);
    EXPECT_EQ(t.attempts, 1);
    EXPECT_EQ(t.progress, 1.0);
    const auto path = data_dir_ / (id + "." + ext);
    ASSERT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(t.file_size, static_cast<std::int64_t>(std::filesystem::file_size(path)));
    EXPECT_EQ(files_of(id).size(), 1u) << "no temp files left";
  }
  EXPECT_EQ(head(data_dir_ / (png + ".png"), 4), "\x89PNG");
  const std::string tiff_magic = head(data_dir_ / (tiff + ".tiff"), 4);
  EXPECT_TRUE(tiff_magic == std::string("II*\0", 4) || tiff_magic == std::string("MM\0*", 4));
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s)) << "entries acknowledged";
  EXPECT_EQ(queue_->depth().pending, 0);
  const auto after = metrics();
  EXPECT_EQ(after.tasks_rendered - before.tasks_rendered, 2);
  EXPECT_EQ(after.render_seconds.count - before.render_seconds.count, 2);
  EXPECT_EQ(after.queue_wait_seconds.count - before.queue_wait_seconds.count, 2);
  EXPECT_EQ(w.counters().tasks_rendered, 2);
}

TEST_F(SchedulerTest, RendersABatchOfSmallTasksInFewRenderCalls) {
  const auto before = metrics();
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(submit(small_params(100 + i)));
  Worker& w = start_worker(options("w1"));
  for (const auto& id : ids) ASSERT_TRUE(wait_status(id, TaskStatus::done, 30s)) << id;
  // mark_done comes before the metrics and the XACK: once the stream is empty
  // every render was recorded.
  ASSERT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s));
  const auto after = metrics();
  const auto calls = after.batch_size.count - before.batch_size.count;
  EXPECT_GE(calls, 1);
  EXPECT_LE(calls, 3) << "20 small tasks read at once render in one call (a few at most)";
  EXPECT_DOUBLE_EQ(after.batch_size.sum - before.batch_size.sum, 20.0);
  EXPECT_EQ(w.counters().render_calls, calls);
  EXPECT_EQ(after.tasks_rendered - before.tasks_rendered, 20);
}

TEST_F(SchedulerTest, SkipsATaskDeletedWhileQueued) {
  const std::string gone = submit(small_params());
  const std::string kept = submit(small_params());
  ASSERT_TRUE(repo_->remove(owner_, gone));  // the server's DELETE
  Worker& w = start_worker(options("w1"));
  ASSERT_TRUE(wait_status(kept, TaskStatus::done, 20s));
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s)) << "the deleted task's entry is acked";
  EXPECT_FALSE(find(gone));
  EXPECT_TRUE(files_of(gone).empty());
  EXPECT_EQ(w.counters().tasks_skipped, 1);
  EXPECT_EQ(w.counters().tasks_rendered, 1);
}

TEST_F(SchedulerTest, DeletingARunningTaskStopsItsRenderWithinASecond) {
  // 4.8e11 iterations: minutes of work unless stopped.
  const std::string id = submit(long_render_params(800, 600, 1'000'000));
  Worker& w = start_worker(options("w1"));
  ASSERT_TRUE(wait_rendering(id));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(repo_->remove(owner_, id));
  ASSERT_TRUE(wait_until([&] { return w.counters().tasks_canceled == 1; }, 5s));
  const auto stopped_after = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(stopped_after, test::sanitizer_scaled(1500ms));
  EXPECT_TRUE(wait_until([&] { return w.in_flight() == 0 && queue_->depth().length == 0; }, 5s));
  EXPECT_TRUE(files_of(id).empty());
  EXPECT_EQ(w.counters().tasks_rendered, 0);

  // The worker goes on with the next task.
  const std::string next = submit(small_params());
  EXPECT_TRUE(wait_status(next, TaskStatus::done, 20s));
}

TEST_F(SchedulerTest, CancelingARunningTaskStopsItsRenderAndLeavesNoFile) {
  // 4.8e11 iterations: minutes of work unless stopped.
  const std::string id = submit(long_render_params(800, 600, 1'000'000));
  Worker& w = start_worker(options("w1"));
  ASSERT_TRUE(wait_rendering(id));
  const auto t0 = std::chrono::steady_clock::now();
  const auto canceled = repo_->cancel(owner_, id);  // the server's POST /tasks/<id>/cancel
  ASSERT_TRUE(canceled && canceled->canceled);
  ASSERT_TRUE(wait_until([&] { return w.counters().tasks_canceled == 1; }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, test::sanitizer_scaled(1500ms));
  EXPECT_TRUE(wait_until([&] { return w.in_flight() == 0 && queue_->depth().length == 0; }, 5s));
  EXPECT_TRUE(files_of(id).empty());
  EXPECT_EQ(w.counters().tasks_rendered, 0);
  // The task stays canceled, its progress where the render stopped; its quota slot is free.
  const auto t = get(id);
  EXPECT_EQ(t.status, TaskStatus::canceled);
  EXPECT_GT(t.progress, 0.0);
  EXPECT_FALSE(t.file_path);
  EXPECT_EQ(repo_->unfinished(owner_), 0);

  const std::string next = submit(small_params());
  EXPECT_TRUE(wait_status(next, TaskStatus::done, 20s));
  EXPECT_EQ(repo_->unfinished(owner_), 0);
}

TEST_F(SchedulerTest, SkipsATaskCanceledWhileQueued) {
  const std::string gone = submit(small_params());
  const std::string kept = submit(small_params());
  ASSERT_TRUE(repo_->cancel(owner_, gone));
  Worker& w = start_worker(options("w1"));
  ASSERT_TRUE(wait_status(kept, TaskStatus::done, 20s));
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s)) << "the canceled task's entry is acked";
  EXPECT_EQ(get(gone).status, TaskStatus::canceled);
  EXPECT_EQ(get(gone).attempts, 0);
  EXPECT_TRUE(files_of(gone).empty());
  EXPECT_EQ(w.counters().tasks_skipped, 1);
  EXPECT_EQ(w.counters().tasks_rendered, 1);
  EXPECT_EQ(repo_->unfinished(owner_), 0);
}

TEST_F(SchedulerTest, TaskWithBadParamsFailsCleanly) {
  const auto before = metrics();
  const std::string zero_width = create_task({{"width", 0}});
  enqueue(zero_width);
  const std::string no_c = create_task({{"fractal", "julia"}});
  enqueue(no_c);
  const std::string not_object = create_task(nlohmann::json::array({1, 2}));
  enqueue(not_object);
  Worker& w = start_worker(options("w1"));
  for (const auto& [id, word] : {std::pair{zero_width, "width"}, std::pair{no_c, "julia_c"}, std::pair{not_object, ""}}) {
    ASSERT_TRUE(wait_status(id, TaskStatus::failed, 20s)) << id;
    const auto t = get(id);
    ASSERT_TRUE(t.error);
    EXPECT_EQ(t.error->rfind("invalid params: ", 0), 0u) << *t.error;
    EXPECT_NE(t.error->find(word), std::string::npos) << *t.error;
    EXPECT_TRUE(files_of(id).empty());
    EXPECT_FALSE(t.file_path);
  }
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s));
  EXPECT_EQ(w.counters().tasks_failed, 3);
  EXPECT_EQ(metrics().tasks_failed - before.tasks_failed, 3);
}

// Wraps the CPU renderer; throws for any batch holding a job with max_iter 666.
class PickyRenderer : public Renderer {
 public:
  PickyRenderer() : inner_(make_renderer(BackendKind::cpu, {.threads = 2})) {}
  std::string name() const override { return "test:" + inner_->name(); }
  void render(std::span<RenderJob> jobs) override {
    for (const auto& j : jobs) {
      if (j.max_iter == 666) throw std::runtime_error("device lost");
    }
    inner_->render(jobs);
  }

 private:
  std::unique_ptr<Renderer> inner_;
};

TEST_F(SchedulerTest, ARenderErrorFailsOnlyTheTaskThatCausesIt) {
  const std::string bad = submit(small_params(666));
  const std::string good = submit(small_params(200));
  WorkerOptions o = options("w1");
  o.renderer = std::make_shared<PickyRenderer>();
  start_worker(o);
  ASSERT_TRUE(wait_status(bad, TaskStatus::failed, 20s));
  ASSERT_TRUE(wait_status(good, TaskStatus::done, 20s));
  EXPECT_EQ(get(bad).error, "render failed: device lost");
  EXPECT_TRUE(files_of(bad).empty());
  EXPECT_EQ(get(good).backend->rfind("test:cpu:", 0), 0u);
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s));
}

TEST_F(SchedulerTest, TwoWorkersOnOneQueueRenderEachTaskOnce) {
  const auto before = metrics();
  WorkerOptions a = options("w-a"), b = options("w-b");
  a.batch = b.batch = 4;
  Worker& wa = start_worker(a);
  Worker& wb = start_worker(b);
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(submit(small_params(100 + i)));
  for (const auto& id : ids) ASSERT_TRUE(wait_status(id, TaskStatus::done, 60s)) << id;
  std::set<std::string> workers;
  for (const auto& id : ids) {
    const auto t = get(id);
    EXPECT_EQ(t.attempts, 1) << id;
    workers.insert(t.worker.value_or(""));
    EXPECT_EQ(files_of(id).size(), 1u) << id;
  }
  // Counted after mark_done, before the XACK: wait for the acknowledgements.
  EXPECT_TRUE(wait_until([&] { return queue_->depth().length == 0; }, 5s));
  EXPECT_EQ(wa.counters().tasks_rendered + wb.counters().tasks_rendered, 30);
  EXPECT_EQ(wa.counters().redeliveries + wb.counters().redeliveries, 0);
  EXPECT_EQ(metrics().tasks_rendered - before.tasks_rendered, 30);
  EXPECT_TRUE(workers.count("w-a") || workers.count("w-b"));
  EXPECT_GT(metrics_->workers_alive(), 0);
}

// The same batch on each backend: mixed precisions and formats in one render
// call. CUDA skips, with the reason, where no device (or no CUDA build) exists.
class SchedulerBackendTest : public SchedulerTest, public ::testing::WithParamInterface<BackendKind> {};

TEST_P(SchedulerBackendTest, RendersAMixedBatchInOneCall) {
  try {
    (void)make_renderer(GetParam(), {.threads = 2});
  } catch (const BackendUnavailable& e) {
    GTEST_SKIP() << "backend unavailable: " << e.what();
  }
  nlohmann::json f = small_params(50), d = small_params(400), exr = small_params(300);
  f["precision"] = "float";
  d["precision"] = "double";
  d["format"] = "jpg";
  exr["output"] = "iterations";
  exr["format"] = "exr";
  const std::vector<std::string> ids{submit(f), submit(d), submit(exr)};
  WorkerOptions o = options("w1");
  o.backend = GetParam();
  Worker& w = start_worker(o);
  const std::string prefix = GetParam() == BackendKind::cpu ? "cpu:" : "cuda:";
  for (const auto& id : ids) {
    ASSERT_TRUE(wait_status(id, TaskStatus::done, 30s)) << id;
    const auto t = get(id);
    EXPECT_EQ(t.backend->rfind(prefix, 0), 0u) << *t.backend;
    EXPECT_EQ(files_of(id).size(), 1u);
  }
  EXPECT_EQ(get(ids[0]).precision_used, "float");
  EXPECT_EQ(get(ids[1]).precision_used, "double");
  EXPECT_EQ(get(ids[1]).file_path, ids[1] + ".jpg");
  EXPECT_EQ(get(ids[2]).file_path, ids[2] + ".exr");
  EXPECT_EQ(w.counters().render_calls, 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, SchedulerBackendTest, ::testing::Values(BackendKind::cpu, BackendKind::cuda),
                         [](const ::testing::TestParamInfo<BackendKind>& info) {
                           return std::string(info.param == BackendKind::cpu ? "cpu" : "cuda");
                         });

}  // namespace
}  // namespace fractal::scheduler::testing
