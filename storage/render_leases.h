// Render leases: a Redis key <stream>:lease:<task id> = worker name with a
// TTL of one claim timeout, refreshed together with the worker's stream claims.
//
// The stream's pending entries already say who renders what, but only while
// Redis keeps its data. After Redis lost it (restart without AOF) a live
// worker still renders its tasks while their entries are gone; the lease,
// re-created by that worker's next refresh, is what tells the reconciler and
// other workers "this task is being rendered, do not start it again". Entries
// taken over with XAUTOCLAIM override a lease: that claim protocol (the owner
// stopped keeping its entry alive) is authoritative.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/redis.h"

namespace fractal::storage {

class RenderLeases {
 public:
  RenderLeases(RedisOptions redis, std::string key_prefix);

  // Takes the lease unless another worker holds it; true when `worker` holds it afterwards.
  bool acquire(std::string_view task_id, std::string_view worker, std::chrono::milliseconds ttl);
  // acquire() for many tasks in one round trip; per task, in order.
  std::vector<bool> acquire_many(const std::vector<std::string>& task_ids, std::string_view worker,
                                 std::chrono::milliseconds ttl);
  // Takes the lease whoever holds it (entries taken over with XAUTOCLAIM).
  void take(std::string_view task_id, std::string_view worker, std::chrono::milliseconds ttl);
  void take_many(const std::vector<std::string>& task_ids, std::string_view worker, std::chrono::milliseconds ttl);
  // Extends the leases of `task_ids` held by `worker` and re-creates missing
  // ones (Redis lost its data); returns the ids another worker holds now.
  std::vector<std::string> refresh(const std::vector<std::string>& task_ids, std::string_view worker,
                                   std::chrono::milliseconds ttl);
  // Deletes the lease if `worker` holds it.
  void release(std::string_view task_id, std::string_view worker);
  // release() for many tasks in one round trip.
  void release_many(const std::vector<std::string>& task_ids, std::string_view worker);
  // The worker holding the lease, if any.
  std::optional<std::string> holder(std::string_view task_id);
  // Lets one worker of the fleet re-enqueue a task per `ttl`: true for the first caller.
  bool reserve_requeue(std::string_view task_id, std::chrono::milliseconds ttl);

 private:
  std::string lease_key(std::string_view task_id) const;

  std::string prefix_;
  std::mutex mutex_;
  RedisConnection conn_;
};

}  // namespace fractal::storage
