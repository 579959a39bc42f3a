// The tasks a worker holds: claimed and waiting for their group, rendering, or
// in the output stage. The background threads read this registry to publish
// progress, stop renders whose task went away, and keep claims alive.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kernels/render_task.h"
#include "kernels/task_spec.h"
#include "storage/redis.h"
#include "storage/timestamp.h"

namespace fractal::scheduler {

enum class CancelReason : int {
  none,
  gone,      // deleted, or no longer running in Postgres: drop the result
  shutdown,  // the worker is stopping: hand the task back to the queue
};

enum class Phase : int { waiting, rendering, output };

// One claimed task. Never moves (TaskRun refers to `spec`): held by shared_ptr.
struct WorkItem {
  WorkItem(storage::StreamEntry e, std::string id, TaskSpec s)
      : entry(std::move(e)), task_id(std::move(id)), spec(std::move(s)), run(spec) {}
  WorkItem(const WorkItem&) = delete;
  WorkItem& operator=(const WorkItem&) = delete;

  const storage::StreamEntry entry;
  const std::string task_id;
  const TaskSpec spec;
  TaskRun run;
  storage::Timestamp created_at{};
  storage::Timestamp started_at{};
  double render_seconds = 0;  // written by the render thread before the output phase

  std::atomic<Phase> phase{Phase::waiting};
  std::atomic<CancelReason> cancel_reason{CancelReason::none};
  std::atomic<bool> claim_lost{false};

  // First reason wins; sets the render's cancel flag.
  bool cancel(CancelReason reason) {
    CancelReason expected = CancelReason::none;
    if (!cancel_reason.compare_exchange_strong(expected, reason)) return false;
    run.cancel.store(true);
    return true;
  }
};

class InFlight {
 public:
  void add(std::shared_ptr<WorkItem> item);
  void remove(const WorkItem& item);
  [[nodiscard]] std::vector<std::shared_ptr<WorkItem>> snapshot() const;
  [[nodiscard]] bool has_entry(std::string_view entry_id) const;  // items only, not the backlog
  [[nodiscard]] bool has_task(std::string_view task_id) const;
  [[nodiscard]] std::size_t size() const;

  // Entries received but not yet admitted (storage was down): their claims
  // are kept alive too.
  void set_backlog(std::vector<std::string> entry_ids);
  [[nodiscard]] std::vector<std::string> backlog_ids() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<WorkItem>> by_task_;
  std::unordered_set<std::string> entries_;
  std::vector<std::string> backlog_;
};

}  // namespace fractal::scheduler
