// Shared pieces of the worker tests: one Postgres and one Redis (AOF on, so a
// restart keeps the queue) per test executable; each test gets its own
// database, stream names and image directory, and submits tasks exactly like
// the server does (INSERT through TaskRepo::create, then TaskQueue::enqueue).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "scheduler/worker.h"
#include "storage/metrics_store.h"
#include "storage/pg_pool.h"
#include "storage/redis.h"
#include "storage/tasks.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/temp_redis.h"
#include "tests/support/wait_until.h"

namespace fractal::scheduler::testing {

using namespace std::chrono_literals;

test::TempPostgres& postgres();
test::TempRedis& redis();

// Polls `condition` every 20 ms until true or `timeout`.
using fractal::test::wait_until;  // tests/support/wait_until.h

// Params of renders of known cost (all samples inside the main cardioid, so
// every sample costs exactly max_iter iterations).
nlohmann::json small_params(int max_iter = 200);
nlohmann::json interior_params(int width, int height, int max_iter);
// interior_params for a render that must last (killed, canceled or handed back
// mid-render): max_iter / kSanitizerRenderDivisor in the sanitizer build, so it
// lasts about as long there as in the normal build.
nlohmann::json long_render_params(int width, int height, int max_iter);

// The CPU renderer, except that a render call holding a job with max_iter ==
// gated_max_iter waits until open() (or until the worker cancels the render)
// before rendering. Lets a test keep a task "rendering" for exactly as long as
// it needs instead of guessing how long a render lasts on a loaded machine.
class GatedRenderer : public Renderer {
 public:
  explicit GatedRenderer(int gated_max_iter);
  std::string name() const override;
  void render(std::span<RenderJob> jobs) override;

  // Waits until a gated render call is held at the gate.
  bool wait_held(std::chrono::milliseconds timeout);
  void open();

 private:
  const int gated_max_iter_;
  std::unique_ptr<Renderer> inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  bool open_ = false;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Options for a worker of this test: its database, Redis, stream, data dir,
  // CPU backend and short timings.
  WorkerOptions options(const std::string& name);
  // Runs a Worker on a thread; returns once it is started.
  Worker& start_worker(WorkerOptions o);
  // stop() + join; rethrows what run() threw.
  void stop_worker(Worker& w);
  void stop_workers();
  [[nodiscard]] bool worker_thread_alive(const Worker& w) const;

  // What the server does for POST /add: validate + INSERT, then XADD.
  std::string submit(const nlohmann::json& params);
  // INSERT with params stored as given (no validation, no XADD).
  std::string create_task(const nlohmann::json& stored_params);
  void enqueue(const std::string& id);

  std::optional<storage::TaskRecord> find(const std::string& id);
  storage::TaskRecord get(const std::string& id);
  bool wait_status(const std::string& id, storage::TaskStatus status, std::chrono::milliseconds timeout);
  // Until the task is running with some progress: a worker is inside its render.
  bool wait_rendering(const std::string& id, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  storage::MetricsSnapshot metrics();
  // Files in the data dir whose name mentions the task id (results and temp files).
  std::vector<std::filesystem::path> files_of(const std::string& id) const;
  std::string worker_binary() const;
  std::vector<std::string> binary_args(const std::string& name) const;  // --pg ... for fractal-worker

  std::string conninfo_;
  std::unique_ptr<storage::PgPool> pool_;
  std::unique_ptr<storage::TaskRepo> repo_;
  std::string owner_;
  storage::RedisOptions redis_options_;
  storage::QueueOptions queue_options_;
  std::unique_ptr<storage::TaskQueue> queue_;
  std::unique_ptr<storage::MetricsStore> metrics_;
  std::filesystem::path data_dir_;

 private:
  struct Running {
    std::unique_ptr<Worker> worker;
    std::thread thread;
    std::exception_ptr error;
    std::atomic<bool> exited{false};
  };
  std::vector<std::unique_ptr<Running>> workers_;
};

}  // namespace fractal::scheduler::testing
