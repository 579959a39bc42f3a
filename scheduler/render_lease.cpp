#include "scheduler/render_lease.h"

#include <algorithm>

namespace fractal::scheduler {
namespace {

// KEYS[1] lease; ARGV worker, ttl ms. Returns the holder afterwards.
constexpr const char* kAcquire = R"lua(
local h = redis.call('GET', KEYS[1])
if h and h ~= ARGV[1] then return h end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
)lua";

// KEYS leases; ARGV worker, ttl ms. Returns the indexes (1-based) held by others.
constexpr const char* kRefresh = R"lua(
local lost = {}
for i = 1, #KEYS do
  local h = redis.call('GET', KEYS[i])
  if h and h ~= ARGV[1] then
    lost[#lost + 1] = i
  else
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
  end
end
return lost
)lua";

constexpr const char* kRelease = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

storage::RedisConnection::CommandOptions idempotent() {
  storage::RedisConnection::CommandOptions o;
  o.idempotent = true;
  return o;
}

std::string ms(std::chrono::milliseconds t) { return std::to_string(std::max<long long>(t.count(), 1)); }

}  // namespace

RenderLeases::RenderLeases(storage::RedisOptions redis, std::string key_prefix)
    : prefix_(std::move(key_prefix)), conn_(std::move(redis)) {}

std::string RenderLeases::lease_key(std::string_view task_id) const { return prefix_ + "lease:" + std::string(task_id); }

bool RenderLeases::acquire(std::string_view task_id, std::string_view worker, std::chrono::milliseconds ttl) {
  std::lock_guard lock(mutex_);
  const auto reply =
      conn_.command({"EVAL", kAcquire, "1", lease_key(task_id), std::string(worker), ms(ttl)}, idempotent());
  return reply.str == worker;
}

void RenderLeases::take(std::string_view task_id, std::string_view worker, std::chrono::milliseconds ttl) {
  std::lock_guard lock(mutex_);
  conn_.command({"SET", lease_key(task_id), std::string(worker), "PX", ms(ttl)}, idempotent());
}

std::vector<std::string> RenderLeases::refresh(const std::vector<std::string>& task_ids, std::string_view worker,
                                               std::chrono::milliseconds ttl) {
  if (task_ids.empty()) return {};
  std::vector<std::string> argv{"EVAL", kRefresh, std::to_string(task_ids.size())};
  for (const auto& id : task_ids) argv.push_back(lease_key(id));
  argv.emplace_back(worker);
  argv.push_back(ms(ttl));
  std::lock_guard lock(mutex_);
  const auto reply = conn_.command(argv, idempotent());
  std::vector<std::string> lost;
  for (const auto& e : reply.elements) {
    const auto i = static_cast<std::size_t>(e.integer);
    if (i >= 1 && i <= task_ids.size()) lost.push_back(task_ids[i - 1]);
  }
  return lost;
}

void RenderLeases::release(std::string_view task_id, std::string_view worker) {
  std::lock_guard lock(mutex_);
  conn_.command({"EVAL", kRelease, "1", lease_key(task_id), std::string(worker)}, idempotent());
}

std::optional<std::string> RenderLeases::holder(std::string_view task_id) {
  std::lock_guard lock(mutex_);
  const auto reply = conn_.command({"GET", lease_key(task_id)});
  if (reply.is_nil()) return std::nullopt;
  return reply.str;
}

bool RenderLeases::reserve_requeue(std::string_view task_id, std::chrono::milliseconds ttl) {
  std::lock_guard lock(mutex_);
  const auto reply = conn_.command({"SET", prefix_ + "requeue:" + std::string(task_id), "1", "NX", "PX", ms(ttl)});
  return !reply.is_nil();
}

}  // namespace fractal::scheduler
