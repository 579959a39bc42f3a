#include "storage/render_leases.h"

#include <algorithm>

namespace fractal::storage {
namespace {

// KEYS leases; ARGV worker, ttl ms. Takes each lease no other worker holds;
// returns 1 (held by ARGV[1] afterwards) or 0 per key, in order.
constexpr const char* kAcquire = R"lua(
local held = {}
for i = 1, #KEYS do
  local h = redis.call('GET', KEYS[i])
  if h and h ~= ARGV[1] then
    held[i] = 0
  else
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    held[i] = 1
  end
end
return held
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

// KEYS leases; ARGV worker. Deletes those ARGV[1] holds.
constexpr const char* kRelease = R"lua(
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then n = n + redis.call('DEL', KEYS[i]) end
end
return n
)lua";

std::string ms(std::chrono::milliseconds t) { return std::to_string(std::max<long long>(t.count(), 1)); }

}  // namespace

RenderLeases::RenderLeases(RedisOptions redis, std::string key_prefix)
    : prefix_(std::move(key_prefix)), conn_(std::move(redis)) {}

std::string RenderLeases::lease_key(std::string_view task_id) const { return prefix_ + "lease:" + std::string(task_id); }

bool RenderLeases::acquire(std::string_view task_id, std::string_view worker, std::chrono::milliseconds ttl) {
  return acquire_many({std::string(task_id)}, worker, ttl).front();
}

std::vector<bool> RenderLeases::acquire_many(const std::vector<std::string>& task_ids, std::string_view worker,
                                             std::chrono::milliseconds ttl) {
  std::vector<bool> held(task_ids.size(), false);
  if (task_ids.empty()) return held;
  std::vector<std::string> argv{"EVAL", kAcquire, std::to_string(task_ids.size())};
  for (const auto& id : task_ids) argv.push_back(lease_key(id));
  argv.emplace_back(worker);
  argv.push_back(ms(ttl));
  std::lock_guard lock(mutex_);
  const auto reply = conn_.command(argv, RedisConnection::CommandOptions::resendable());
  for (std::size_t i = 0; i < task_ids.size() && i < reply.elements.size(); ++i) held[i] = reply.elements[i].integer == 1;
  return held;
}

void RenderLeases::take(std::string_view task_id, std::string_view worker, std::chrono::milliseconds ttl) {
  take_many({std::string(task_id)}, worker, ttl);
}

void RenderLeases::take_many(const std::vector<std::string>& task_ids, std::string_view worker,
                             std::chrono::milliseconds ttl) {
  if (task_ids.empty()) return;
  std::vector<std::vector<std::string>> commands;
  for (const auto& id : task_ids) commands.push_back({"SET", lease_key(id), std::string(worker), "PX", ms(ttl)});
  std::lock_guard lock(mutex_);
  conn_.pipeline(commands, true);
}

std::vector<std::string> RenderLeases::refresh(const std::vector<std::string>& task_ids, std::string_view worker,
                                               std::chrono::milliseconds ttl) {
  if (task_ids.empty()) return {};
  std::vector<std::string> argv{"EVAL", kRefresh, std::to_string(task_ids.size())};
  for (const auto& id : task_ids) argv.push_back(lease_key(id));
  argv.emplace_back(worker);
  argv.push_back(ms(ttl));
  std::lock_guard lock(mutex_);
  const auto reply = conn_.command(argv, RedisConnection::CommandOptions::resendable());
  std::vector<std::string> lost;
  for (const auto& e : reply.elements) {
    const auto i = static_cast<std::size_t>(e.integer);
    if (i >= 1 && i <= task_ids.size()) lost.push_back(task_ids[i - 1]);
  }
  return lost;
}

void RenderLeases::release(std::string_view task_id, std::string_view worker) {
  release_many({std::string(task_id)}, worker);
}

void RenderLeases::release_many(const std::vector<std::string>& task_ids, std::string_view worker) {
  if (task_ids.empty()) return;
  std::vector<std::string> argv{"EVAL", kRelease, std::to_string(task_ids.size())};
  for (const auto& id : task_ids) argv.push_back(lease_key(id));
  argv.emplace_back(worker);
  std::lock_guard lock(mutex_);
  conn_.command(argv, RedisConnection::CommandOptions::resendable());
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

}  // namespace fractal::storage
