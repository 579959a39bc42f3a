#include "server/submit_batcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "runtime/logging.h"

namespace fractal::server {

namespace {

using Clock = std::chrono::steady_clock;

SubmitBatcherOptions checked(SubmitBatcherOptions o) {
  o.executors = std::max<std::size_t>(o.executors, 1);
  o.max_group = std::max<std::size_t>(o.max_group, 1);
  o.max_group_tasks = std::max<std::size_t>(o.max_group_tasks, 1);
  return o;
}

}  // namespace

SubmitBatcher::SubmitBatcher(storage::TaskRepo& tasks, storage::TaskQueue& queue, SubmitBatcherOptions options)
    : tasks_(tasks), queue_(queue), options_(checked(options)) {
  executors_.reserve(options_.executors);
  for (std::size_t i = 0; i < options_.executors; ++i) executors_.emplace_back([this] { run(); });
}

SubmitBatcher::~SubmitBatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  full_.notify_all();
  for (auto& t : executors_) t.join();
}

storage::SubmissionResult SubmitBatcher::submit(storage::Submission submission) {
  return submit_async(std::move(submission)).get();
}

std::future<storage::SubmissionResult> SubmitBatcher::submit_async(storage::Submission submission) {
  storage::check_submission(submission);  // a malformed one must not fail a whole group
  auto waiting = std::make_unique<Waiting>();
  waiting->submission = std::move(submission);
  waiting->arrived = Clock::now();
  std::future<storage::SubmissionResult> result = waiting->result.get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw std::logic_error("SubmitBatcher::submit after shutdown");
    waiting_tasks_ += waiting->submission.params.size();
    waiting_.push_back(std::move(waiting));
    if (waiting_.size() >= options_.max_group || waiting_tasks_ >= options_.max_group_tasks) full_.notify_one();
    if (!collecting_) ready_.notify_one();
  }
  return result;
}

void SubmitBatcher::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    ready_.wait(lock, [this] { return (!waiting_.empty() && !collecting_) || (stopping_ && waiting_.empty()); });
    if (waiting_.empty()) return;  // stopping, and nothing is left
    // Gather: the oldest waits at most `window` for company; a full group goes at once.
    collecting_ = true;
    const auto deadline = waiting_.front()->arrived + options_.window;
    full_.wait_until(lock, deadline, [this] {
      return stopping_ || waiting_.size() >= options_.max_group || waiting_tasks_ >= options_.max_group_tasks;
    });
    Group group = take_group();
    collecting_ = false;
    if (stopping_) {
      ready_.notify_all();
    } else if (!waiting_.empty()) {
      ready_.notify_one();  // the rest: the next free executor gathers it while this one commits
    }
    lock.unlock();
    commit(group);
    lock.lock();
  }
}

SubmitBatcher::Group SubmitBatcher::take_group() {
  Group group;
  std::size_t tasks = 0;
  while (!waiting_.empty() && group.size() < options_.max_group) {
    const std::size_t n = waiting_.front()->submission.params.size();
    if (!group.empty() && tasks + n > options_.max_group_tasks) break;
    tasks += n;
    waiting_tasks_ -= n;
    group.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return group;
}

void SubmitBatcher::commit(Group& group) {
  std::vector<storage::Submission> submissions;
  submissions.reserve(group.size());
  for (auto& w : group) submissions.push_back(std::move(w->submission));
  const auto fail_all = [&group](const std::exception_ptr& error) {
    for (auto& w : group) w->result.set_exception(error);
  };

  std::vector<storage::SubmissionResult> results;
  const auto t0 = Clock::now();
  try {
    results = tasks_.create_many(submissions);
  } catch (const storage::StorageUnavailable&) {
    fail_all(std::current_exception());  // every request answers 503
    return;
  } catch (const std::exception& e) {
    if (group.size() == 1) {
      fail_all(std::current_exception());
      return;
    }
    // Not an outage: some submission trips the database. Alone, each one
    // fails only itself.
    spdlog::error("event=submit_group_failed submissions={} error={} action=one_by_one", group.size(),
                  runtime::log_value(e.what()));
    for (std::size_t i = 0; i < group.size(); ++i) {
      Group one;
      one.push_back(std::move(group[i]));
      one.front()->submission = std::move(submissions[i]);
      commit(one);
    }
    return;
  } catch (...) {
    fail_all(std::current_exception());
    return;
  }
  const auto t1 = Clock::now();
  enqueue(group, results);
  std::size_t tasks = 0;
  for (const auto& s : submissions) tasks += s.params.size();
  spdlog::debug("event=submit_group submissions={} tasks={} commit_ms={:.2f} enqueue_ms={:.2f}", group.size(), tasks,
                std::chrono::duration<double, std::milli>(t1 - t0).count(),
                std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
  for (std::size_t i = 0; i < group.size(); ++i) group[i]->result.set_value(std::move(results[i]));
}

void SubmitBatcher::enqueue(const Group& group, const std::vector<storage::SubmissionResult>& results) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < group.size(); ++i) {
    if (results[i].outcome != storage::CreateOutcome::created) continue;
    for (const auto& t : results[i].tasks) ids.push_back(t.id);
  }
  if (ids.empty()) return;
  // Postgres has the tasks as queued whatever happens here: the reconciler
  // enqueues what did not make it once Redis answers again. The requests are
  // answered 202 either way.
  try {
    queue_.enqueue_many(ids);
  } catch (const storage::StorageUnavailable& e) {
    spdlog::warn("event=enqueue_failed tasks={} first={} error={}", ids.size(), ids.front(), runtime::log_value(e.what()));
  } catch (const std::exception& e) {
    spdlog::error("event=enqueue_failed tasks={} first={} error={}", ids.size(), ids.front(), runtime::log_value(e.what()));
  }
}

}  // namespace fractal::server
