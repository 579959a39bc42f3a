// The output stage: encodes the images of a render group on a few threads
// while the render stage goes on, then settles the group together — one
// status query, one directory fsync, one transaction marking the tasks done,
// one pipelined metrics update, one XACK call and one lease release for the
// whole group. Also settles what never reaches an image: canceled renders,
// renders handed back at shutdown, and failures.
//
// Order per task, which recovery relies on (scheduler/README.md): file
// written and synced -> renamed into place, directory synced -> marked done in
// Postgres -> entry acknowledged. A crash anywhere leaves the entry pending
// and the task unfinished or done, never done without its file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/encode_pool.h"
#include "scheduler/in_flight.h"
#include "scheduler/worker_context.h"

namespace fractal::scheduler {

class OutputStage {
 public:
  OutputStage(WorkerContext& ctx, int threads);
  ~OutputStage();
  OutputStage(const OutputStage&) = delete;
  OutputStage& operator=(const OutputStage&) = delete;

  // The finished renders of one render call (none canceled).
  void submit(const std::vector<std::shared_ptr<WorkItem>>& rendered);
  // A render that did not finish: stopped at shutdown (handed back to the
  // queue) or because its task went away (acknowledged, nothing recorded).
  void settle_unfinished(const std::shared_ptr<WorkItem>& item);
  // Records the task failed, then acknowledges it.
  void fail(const std::shared_ptr<WorkItem>& item, const std::string& error);

  // Blocks while the images waiting for the encoder hold more than `limit`
  // bytes (or until give_up()).
  void wait_below(std::uint64_t limit, const std::function<bool()>& give_up);
  // Encodes and settles everything submitted, then stops the threads.
  void finish();

 private:
  struct Encoded {
    std::shared_ptr<WorkItem> item;
    std::filesystem::path temp;  // under the store's .partial directory
    std::string extension;
    std::uint64_t bytes = 0;
    std::int64_t encode_ms = 0;
  };
  struct Group {
    explicit Group(std::size_t n) : remaining(n) {}
    std::mutex mutex;
    std::size_t remaining;
    std::vector<Encoded> encoded;
  };

  void encode(const std::shared_ptr<WorkItem>& item, const std::shared_ptr<Group>& group);
  // Adds `encoded` (nullopt: this task left the group otherwise); the last
  // task of the group to arrive settles the group.
  void arrive(const std::shared_ptr<Group>& group, std::optional<Encoded> encoded);
  void settle(std::vector<Encoded> encoded);
  void hand_off(const std::shared_ptr<WorkItem>& item);
  // Acknowledges (when `acknowledge`), releases the leases and forgets the items.
  void finish_items(const std::vector<std::shared_ptr<WorkItem>>& items, bool acknowledge);

  WorkerContext& ctx_;
  EncodePool pool_;
};

}  // namespace fractal::scheduler
