// The intake stage: takes entries from the task stream and turns them into
// claimed tasks, a batch at a time.
//
//   new entries (XREADGROUP), entries of workers that stopped keeping theirs
//   alive (XAUTOCLAIM, now and then), this consumer's own pending entries at
//   start-up, and a backlog of entries received while storage was down
//     -> checks without I/O (malformed, duplicate, delivered too often)
//     -> one query for all their task records; parse the stored parameters
//     -> one Redis call for all their render leases
//     -> one XACK call for every entry that needs no work
//     -> one transaction claiming the rest (mark_running_many)
//
// Postgres or Redis being down is waited out with back-off; what was received
// meanwhile stays in the backlog, its claims kept alive by the claim keeper.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "runtime/backoff.h"
#include "scheduler/in_flight.h"
#include "scheduler/worker_context.h"

namespace fractal::scheduler {

class Intake {
 public:
  explicit Intake(WorkerContext& ctx);

  // Reads this consumer's pending entries (left by its previous run) into the
  // backlog, waiting out Redis. Call once before next().
  void recover_own_pending();
  // The next claimed tasks to render; empty after the block time without
  // entries, or while storage is down (after a back-off pause).
  std::vector<std::shared_ptr<WorkItem>> next();
  // Logs what is left in the backlog at shutdown (it stays pending in Redis).
  void log_left_pending() const;

 private:
  struct Incoming {
    storage::StreamEntry entry;
    bool autoclaimed = false;
  };
  struct Candidate {
    Incoming in;
    std::string task_id;
    TaskSpec spec;
    bool reclaim = false;
  };

  std::vector<Incoming> receive();
  std::vector<std::shared_ptr<WorkItem>> admit(std::vector<Incoming> incoming);
  std::vector<std::shared_ptr<WorkItem>> claim(std::vector<Candidate>& candidates);
  void dead_letter(const storage::StreamEntry& entry, const std::string& task_id);
  void keep_for_later(std::vector<Incoming> rest);
  void publish_backlog();

  WorkerContext& ctx_;
  std::vector<Incoming> backlog_;
  runtime::Backoff read_backoff_;
  runtime::Backoff backlog_backoff_;
  bool redis_down_ = false;
  std::chrono::steady_clock::time_point next_autoclaim_;
};

}  // namespace fractal::scheduler
