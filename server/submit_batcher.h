// Group commit for POST /add. Submissions that arrive together (within
// `window` of the oldest one waiting, at most `max_group` of them) are created
// in ONE transaction (TaskRepo::create_many: per-owner quota and idempotency,
// one multi-row INSERT, one commit) and enqueued with ONE round trip to Redis
// (TaskQueue::enqueue_many), by a few executor threads, so a commit and an
// XADD are paid once per group instead of once per request. Each caller still
// gets its own outcome, and only after the commit (durable before 202).
//
//   SubmitBatcher batcher(tasks, queue, {.executors = 2});
//   storage::SubmissionResult r = batcher.submit(std::move(submission));  // blocks until committed
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/redis.h"
#include "storage/tasks.h"

namespace fractal::server {

struct SubmitBatcherOptions {
  std::size_t executors = 2;                       // groups in flight at once (each holds one connection)
  std::size_t max_group = 64;                      // submissions per group
  std::size_t max_group_tasks = storage::kMaxBatchTasks;  // tasks per group (a batch alone may reach it)
  std::chrono::microseconds window{1000};          // how long the oldest submission waits for company
};

class SubmitBatcher {
 public:
  SubmitBatcher(storage::TaskRepo& tasks, storage::TaskQueue& queue, SubmitBatcherOptions options);
  // Finishes the submissions still waiting, then joins the executors.
  ~SubmitBatcher();
  SubmitBatcher(const SubmitBatcher&) = delete;
  SubmitBatcher& operator=(const SubmitBatcher&) = delete;

  // Blocks until the submission's group committed and was enqueued, then
  // returns its own result. Rethrows what failed the group (StorageUnavailable:
  // nothing or, when the commit's outcome is unknown, possibly everything was
  // created). Thread-safe. Throws std::invalid_argument for a malformed
  // submission (see TaskRepo::create_many) before it joins a group.
  [[nodiscard]] storage::SubmissionResult submit(storage::Submission submission);
  // The same without blocking: the future is ready once the group committed
  // and was enqueued (or holds what failed it). POST /add waits on it on a
  // waiter thread (Reply::deferred), so the HTTP threads never cap how many
  // submissions one group can hold.
  [[nodiscard]] std::future<storage::SubmissionResult> submit_async(storage::Submission submission);

  const SubmitBatcherOptions& options() const noexcept { return options_; }

 private:
  struct Waiting {
    storage::Submission submission;
    std::promise<storage::SubmissionResult> result;
    std::chrono::steady_clock::time_point arrived;
  };
  using Group = std::vector<std::unique_ptr<Waiting>>;

  void run();
  Group take_group();  // under mutex_
  void commit(Group& group);
  void enqueue(const Group& group, const std::vector<storage::SubmissionResult>& results);

  storage::TaskRepo& tasks_;
  storage::TaskQueue& queue_;
  const SubmitBatcherOptions options_;

  std::mutex mutex_;
  std::condition_variable ready_;  // something waits and nobody collects it
  std::condition_variable full_;   // the collector's group is full (or stop)
  std::deque<std::unique_ptr<Waiting>> waiting_;
  std::size_t waiting_tasks_ = 0;
  bool collecting_ = false;  // one executor gathers the next group at a time
  bool stopping_ = false;
  std::vector<std::thread> executors_;
};

}  // namespace fractal::server
