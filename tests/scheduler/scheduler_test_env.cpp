#include "tests/scheduler/scheduler_test_env.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>

#include "kernels/task_spec.h"
#include "storage/migrations.h"
#include "storage/users.h"
#include "tests/support/scratch_dir.h"

namespace fractal::scheduler::testing {

test::TempPostgres& postgres() {
  static test::TempPostgres instance;
  return instance;
}

test::TempRedis& redis() {
  static test::TempRedis instance([] {
    test::TempRedis::Options o;
    o.append_only = true;
    return o;
  }());
  return instance;
}

nlohmann::json small_params(int max_iter) { return {{"width", 64}, {"height", 48}, {"max_iter", max_iter}}; }

nlohmann::json interior_params(int width, int height, int max_iter) {
  return {{"width", width},       {"height", height},        {"center", {-0.2, 0.0}},
          {"scale", 0.2},         {"max_iter", max_iter},    {"precision", "double"}};
}

nlohmann::json long_render_params(int width, int height, int max_iter) {
  return interior_params(width, height, max_iter / test::kSanitizerRenderDivisor);
}

GatedRenderer::GatedRenderer(int gated_max_iter)
    : gated_max_iter_(gated_max_iter), inner_(make_renderer(BackendKind::cpu, {.threads = 2})) {}

std::string GatedRenderer::name() const { return inner_->name(); }

void GatedRenderer::render(std::span<RenderJob> jobs) {
  const bool gated = std::any_of(jobs.begin(), jobs.end(), [&](const RenderJob& j) { return j.max_iter == gated_max_iter_; });
  if (gated) {
    const auto canceled = [&] {
      return std::any_of(jobs.begin(), jobs.end(), [](const RenderJob& j) { return j.cancel && j.cancel->load(); });
    };
    std::unique_lock lock(mutex_);
    held_ = true;
    changed_.notify_all();
    // Polls the cancel flags too, so a worker stopped by a failed test drains.
    while (!open_ && !canceled()) changed_.wait_for(lock, 10ms);
  }
  inner_->render(jobs);
}

bool GatedRenderer::wait_held(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return held_; });
}

void GatedRenderer::open() {
  {
    std::lock_guard lock(mutex_);
    open_ = true;
  }
  changed_.notify_all();
}

namespace {

std::string unique(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = std::random_device{}() % 100000;
  return std::string(prefix) + "_" + std::to_string(getpid()) + "_" + std::to_string(salt) + "_" +
         std::to_string(counter++);
}

}  // namespace

void SchedulerTest::SetUp() {
  conninfo_ = postgres().create_database(unique("sched"));
  pool_ = std::make_unique<storage::PgPool>(storage::PgPoolOptions{.conninfo = conninfo_, .size = 4});
  storage::migrate(*pool_);
  repo_ = std::make_unique<storage::TaskRepo>(*pool_, storage::TaskRepoOptions{.max_unfinished_per_user = 0});
  storage::UserRepo users(*pool_);
  owner_ = users.create(unique("user"), "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").user->id;

  redis_options_.host = redis().host();
  redis_options_.port = redis().port();
  const std::string stream = unique("sched") + ":tasks";
  queue_options_ = storage::QueueOptions{.stream = stream, .group = "renderers", .dead_stream = stream + ":dead"};
  queue_ = std::make_unique<storage::TaskQueue>(redis_options_, queue_options_);
  metrics_ = std::make_unique<storage::MetricsStore>(redis_options_);
  data_dir_ = test::make_scratch_dir("sched-images");
}

void SchedulerTest::TearDown() {
  stop_workers();
  test::remove_tree(data_dir_);
}

WorkerOptions SchedulerTest::options(const std::string& name) {
  WorkerOptions o;
  o.pg_conninfo = conninfo_;
  o.redis = redis_options_;
  o.queue = queue_options_;
  o.data_dir = data_dir_;
  o.name = name;
  o.backend = BackendKind::cpu;
  o.threads = 2;
  o.block = 200ms;
  o.claim_timeout = 5s;
  o.reconcile_interval = 60s;
  o.reconcile_min_age = 500ms;
  o.drain_timeout = 5s;
  o.heartbeat_interval = 500ms;
  return o;
}

Worker& SchedulerTest::start_worker(WorkerOptions o) {
  auto r = std::make_unique<Running>();
  r->worker = std::make_unique<Worker>(std::move(o));
  Running* raw = r.get();
  r->thread = std::thread([raw] {
    try {
      raw->worker->run();
    } catch (...) {
      raw->error = std::current_exception();
    }
    raw->exited = true;
  });
  workers_.push_back(std::move(r));
  EXPECT_TRUE(wait_until([&] { return raw->worker->started() || raw->exited.load(); }, 30s));
  return *raw->worker;
}

void SchedulerTest::stop_worker(Worker& w) {
  for (auto it = workers_.begin(); it != workers_.end(); ++it) {
    if ((*it)->worker.get() != &w) continue;
    (*it)->worker->stop();
    (*it)->thread.join();
    const std::exception_ptr error = (*it)->error;
    workers_.erase(it);
    if (error) std::rethrow_exception(error);
    return;
  }
}

void SchedulerTest::stop_workers() {
  for (auto& r : workers_) r->worker->stop();
  for (auto& r : workers_) {
    r->thread.join();
    if (r->error) {
      try {
        std::rethrow_exception(r->error);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "Worker::run threw: " << e.what();
      }
    }
  }
  workers_.clear();
}

bool SchedulerTest::worker_thread_alive(const Worker& w) const {
  for (const auto& r : workers_) {
    if (r->worker.get() == &w) return !r->exited.load();
  }
  return false;
}

std::string SchedulerTest::submit(const nlohmann::json& params) {
  const ParseResult parsed = parse_task_spec(params);
  EXPECT_TRUE(parsed.ok()) << (parsed.error ? parsed.error->message : "");
  const std::string id = create_task(to_json(*parsed.spec));
  enqueue(id);
  return id;
}

std::string SchedulerTest::create_task(const nlohmann::json& stored_params) {
  const auto created = repo_->create(owner_, stored_params);
  EXPECT_EQ(created.outcome, storage::CreateOutcome::created);
  return created.task->id;
}

void SchedulerTest::enqueue(const std::string& id) { queue_->enqueue(id); }

std::optional<storage::TaskRecord> SchedulerTest::find(const std::string& id) { return repo_->get_by_id(id); }

storage::TaskRecord SchedulerTest::get(const std::string& id) {
  auto t = repo_->get_by_id(id);
  if (!t) throw std::runtime_error("task " + id + " is gone");
  return *t;
}

bool SchedulerTest::wait_rendering(const std::string& id, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        const auto t = find(id);
        return t && t->status == storage::TaskStatus::running && t->progress > 0;
      },
      timeout);
}

bool SchedulerTest::wait_status(const std::string& id, storage::TaskStatus status, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        try {
          const auto t = repo_->get_by_id(id);
          return t && t->status == status;
        } catch (const storage::StorageUnavailable&) {
          return false;
        }
      },
      timeout);
}

storage::MetricsSnapshot SchedulerTest::metrics() { return metrics_->snapshot(); }

std::vector<std::filesystem::path> SchedulerTest::files_of(const std::string& id) const {
  std::vector<std::filesystem::path> out;
  for (const auto& f : std::filesystem::directory_iterator(data_dir_)) {
    if (f.path().filename().string().find(id) != std::string::npos) out.push_back(f.path());
  }
  return out;
}

std::string SchedulerTest::worker_binary() const { return FRACTAL_WORKER_BIN; }

std::vector<std::string> SchedulerTest::binary_args(const std::string& name) const {
  return {worker_binary(),
          "--pg",
          conninfo_,
          "--redis",
          redis_options_.host + ":" + std::to_string(redis_options_.port),
          "--stream",
          queue_options_.stream,
          "--data-dir",
          data_dir_.string(),
          "--name",
          name,
          "--backend",
          "cpu",
          "--threads",
          "2",
          "--block-ms",
          "200"};
}

}  // namespace fractal::scheduler::testing
