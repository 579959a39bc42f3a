#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <set>

#include "storage/redis.h"
#include "storage/render_leases.h"
#include "tests/storage/storage_test_env.h"
#include "tests/support/shared_services.h"

namespace fractal::storage {
namespace {

using namespace std::chrono_literals;
using testing::redis_options;
using testing::unique_queue;
using testing::wait_until;

const char* const kTaskA = "0b9e7c2a-3a53-4c9b-9a43-1f6c2d6f0a01";
const char* const kTaskB = "0b9e7c2a-3a53-4c9b-9a43-1f6c2d6f0a02";
const char* const kTaskC = "0b9e7c2a-3a53-4c9b-9a43-1f6c2d6f0a03";

RedisOptions options() { return redis_options(test::shared_redis()); }

std::vector<std::string> ids_of(const std::vector<StreamEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.id);
  return out;
}

// Idle time (ms) of one pending entry, straight from XPENDING.
long long idle_ms(const QueueOptions& q, const std::string& entry_id) {
  RedisConnection c(options());
  const RedisReply r = c.command({"XPENDING", q.stream, q.group, entry_id, entry_id, "1"});
  if (r.elements.empty()) return -1;
  return r.elements[0].elements[2].integer;
}

std::string owner_of(const QueueOptions& q, const std::string& entry_id) {
  RedisConnection c(options());
  const RedisReply r = c.command({"XPENDING", q.stream, q.group, entry_id, entry_id, "1"});
  return r.elements.empty() ? "" : r.elements[0].elements[1].str;
}

TEST(TaskQueue, EnqueueReadAck) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  const std::string e1 = queue.enqueue(kTaskA);
  const std::string e2 = queue.enqueue(kTaskB);
  const std::string e3 = queue.enqueue(kTaskC);
  EXPECT_NE(e1, e2);

  const auto got = queue.read("w1", 10, 100ms);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].task_id, kTaskA);
  EXPECT_EQ(got[1].task_id, kTaskB);
  EXPECT_EQ(got[2].task_id, kTaskC);
  EXPECT_EQ(ids_of(got), (std::vector<std::string>{e1, e2, e3}));
  for (const auto& e : got) EXPECT_EQ(e.deliveries, 1);

  QueueDepth d = queue.depth();
  EXPECT_EQ(d.length, 3);
  EXPECT_EQ(d.pending, 3);
  EXPECT_EQ(d.undelivered, 0);

  EXPECT_TRUE(queue.ack(e1));
  EXPECT_FALSE(queue.ack(e1));  // already acknowledged
  EXPECT_TRUE(queue.ack(e2));
  d = queue.depth();
  EXPECT_EQ(d.length, 1);  // acknowledged entries leave the stream
  EXPECT_EQ(d.pending, 1);
  EXPECT_TRUE(queue.read("w1", 10, 10ms).empty());  // nothing new
}

TEST(TaskQueue, CountLimitsABatchAndDepthSeesTheRest) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  queue.enqueue(kTaskA);
  queue.enqueue(kTaskB);
  queue.enqueue(kTaskC);
  EXPECT_EQ(queue.read("w1", 1, 10ms).size(), 1u);
  const QueueDepth d = queue.depth();
  EXPECT_EQ(d.length, 3);
  EXPECT_EQ(d.pending, 1);
  EXPECT_EQ(d.undelivered, 2);
  EXPECT_EQ(d.dead, 0);
}

TEST(TaskQueue, EmptyDepthBeforeAnything) {
  TaskQueue queue(options(), unique_queue());
  const QueueDepth d = queue.depth();
  EXPECT_EQ(d.length, 0);
  EXPECT_EQ(d.pending, 0);
  EXPECT_EQ(d.undelivered, 0);
  EXPECT_TRUE(queue.ping());
}

TEST(TaskQueue, BlockLongerThanTheCommandTimeoutIsFine) {
  RedisOptions o = options();
  o.command_timeout = 200ms;  // shorter than the block below
  TaskQueue queue(o, unique_queue());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(queue.read("w1", 10, 600ms).empty());
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 550ms);
  EXPECT_LT(waited, 3s);
  // Both connections still work.
  queue.enqueue(kTaskA);
  EXPECT_EQ(queue.read("w1", 10, 600ms).size(), 1u);
}

TEST(TaskQueue, BlockedReaderWakesOnEnqueueWithoutHoldingUpOthers) {
  TaskQueue queue(options(), unique_queue());
  queue.ensure_group();
  auto reader = std::async(std::launch::async, [&] { return queue.read("w1", 10, 5000ms); });
  // enqueue uses the other connection, so it is not stuck behind the read.
  const auto start = std::chrono::steady_clock::now();
  queue.enqueue(kTaskA);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  std::vector<StreamEntry> got = reader.get();
  if (got.empty()) got = queue.read("w1", 10, 100ms);  // enqueued before the read started
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task_id, kTaskA);
}

TEST(TaskQueue, PendingEntriesAreReReadAfterTheConsumerDies) {
  const QueueOptions q = unique_queue();
  std::vector<std::string> read_ids;
  {
    TaskQueue worker(options(), q);  // "dies" at the end of the scope without acking
    worker.enqueue(kTaskA);
    worker.enqueue(kTaskB);
    read_ids = ids_of(worker.read("w1", 10, 100ms));
    ASSERT_EQ(read_ids.size(), 2u);
  }
  TaskQueue restarted(options(), q);
  const auto pending = restarted.pending_for("w1");
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(ids_of(pending), read_ids);
  EXPECT_EQ(pending[0].task_id, kTaskA);
  EXPECT_EQ(pending[0].deliveries, 2);  // read once, re-read once
  EXPECT_TRUE(restarted.read("w1", 10, 10ms).empty());  // no new ones
  EXPECT_TRUE(restarted.pending_for("w2").empty());     // only the consumer's own
  EXPECT_TRUE(restarted.ack(pending[0].id));
  EXPECT_EQ(restarted.pending_for("w1").size(), 1u);
}

TEST(TaskQueue, AutoclaimTakesOverIdleEntriesWithDeliveryCounts) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  queue.enqueue(kTaskA);
  queue.enqueue(kTaskB);
  const auto taken = queue.read("dead-worker", 10, 100ms);
  ASSERT_EQ(taken.size(), 2u);

  EXPECT_TRUE(queue.autoclaim("w2", 60s, 10).empty());  // not idle long enough
  std::vector<StreamEntry> claimed;
  ASSERT_TRUE(wait_until([&] {
    auto got = queue.autoclaim("w2", 100ms, 10);
    claimed.insert(claimed.end(), got.begin(), got.end());
    return claimed.size() == 2;
  }, 5s));
  EXPECT_EQ(claimed[0].task_id, kTaskA);
  EXPECT_EQ(claimed[1].task_id, kTaskB);
  for (const auto& e : claimed) {
    EXPECT_EQ(e.deliveries, 2);
    EXPECT_EQ(owner_of(q, e.id), "w2");
  }
  // The old owner's keep-alive now fails: it lost the claims.
  EXPECT_TRUE(queue.touch("dead-worker", ids_of(claimed)).empty());
  EXPECT_EQ(queue.touch("w2", ids_of(claimed)), ids_of(claimed));
  EXPECT_TRUE(queue.ack(claimed[0].id));
  EXPECT_TRUE(queue.ack(claimed[1].id));
  EXPECT_EQ(queue.depth().length, 0);
}

TEST(TaskQueue, AutoclaimRespectsCount) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  for (const char* t : {kTaskA, kTaskB, kTaskC}) queue.enqueue(t);
  ASSERT_EQ(queue.read("gone", 10, 100ms).size(), 3u);
  std::vector<StreamEntry> first;
  ASSERT_TRUE(wait_until([&] { return !(first = queue.autoclaim("w2", 50ms, 2)).empty(); }, 5s));
  EXPECT_EQ(first.size(), 2u);
  EXPECT_EQ(queue.autoclaim("w3", 50ms, 1).size(), 1u);  // the third one, still idle
}

TEST(TaskQueue, TouchKeepsAClaimFromBeingTakenOver) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  queue.enqueue(kTaskA);
  const auto got = queue.read("w1", 1, 100ms);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(wait_until([&] { return idle_ms(q, got[0].id) >= 300; }, 5s));
  EXPECT_EQ(queue.touch("w1", {got[0].id}), (std::vector<std::string>{got[0].id}));
  EXPECT_LT(idle_ms(q, got[0].id), 300);
  EXPECT_TRUE(queue.autoclaim("w2", 300ms, 10).empty());
  // The keep-alive does not count as a delivery.
  const auto mine = queue.pending_for("w1");
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].deliveries, 2);  // the first read + this re-read, not the touch
  EXPECT_TRUE(queue.touch("w1", {}).empty());
  EXPECT_TRUE(queue.touch("w1", {"1-1"}).empty());  // unknown entry
}

TEST(TaskQueue, DeadLetterMovesTheEntryAside) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  const std::string entry_id = queue.enqueue(kTaskA);
  auto got = queue.read("w1", 1, 100ms);
  ASSERT_EQ(got.size(), 1u);
  got[0].deliveries = 5;
  queue.dead_letter(got[0], "delivered 5 times");
  const QueueDepth d = queue.depth();
  EXPECT_EQ(d.length, 0);
  EXPECT_EQ(d.pending, 0);
  EXPECT_EQ(d.dead, 1);
  const auto dead = queue.dead_letters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].task_id, kTaskA);
  EXPECT_EQ(dead[0].entry_id, entry_id);
  EXPECT_EQ(dead[0].reason, "delivered 5 times");
  EXPECT_EQ(dead[0].deliveries, 5);
  EXPECT_TRUE(queue.pending_for("w1").empty());
}

TEST(TaskQueue, MalformedEntryComesBackWithoutTaskIdAndCanBeDeadLettered) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  queue.ensure_group();
  RedisConnection raw(options());
  raw.command({"XADD", q.stream, "*", "something", "else"});
  auto got = queue.read("w1", 1, 100ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task_id, "");
  queue.dead_letter(got[0], "malformed entry");
  EXPECT_EQ(queue.depth().dead, 1);
}

TEST(TaskQueue, ContainsTaskSeesPendingAndUndeliveredEntries) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  queue.enqueue(kTaskA);
  queue.enqueue(kTaskB);
  const auto got = queue.read("w1", 1, 100ms);  // A pending, B undelivered
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(queue.contains_task(kTaskA));
  EXPECT_TRUE(queue.contains_task(kTaskB));
  EXPECT_FALSE(queue.contains_task(kTaskC));
  EXPECT_FALSE(queue.contains_task("not-a-uuid"));
  EXPECT_EQ(queue.task_ids(), (std::unordered_set<std::string>{kTaskA, kTaskB}));
  ASSERT_TRUE(queue.ack(got[0].id));
  EXPECT_FALSE(queue.contains_task(kTaskA));
}

TEST(TaskQueue, TaskIdsPagesThroughLongStreams) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  char id[37];
  for (int i = 0; i < 2500; ++i) {
    std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
    queue.enqueue(id);
  }
  EXPECT_EQ(queue.task_ids().size(), 2500u);
  EXPECT_TRUE(queue.contains_task("00000000-0000-4000-8000-000000002499"));
}

TEST(TaskQueue, LostStreamIsRecreatedAndNewEntriesAreDelivered) {
  // Redis lost its data (or someone deleted the stream) while a server still
  // thinks the group exists: its next XADD re-creates the stream without the
  // group, and the worker must still get that entry.
  const QueueOptions q = unique_queue();
  TaskQueue server(options(), q);
  TaskQueue worker(options(), q);
  server.enqueue(kTaskA);
  ASSERT_EQ(worker.read("w1", 10, 100ms).size(), 1u);
  RedisConnection(options()).command({"DEL", q.stream});
  server.enqueue(kTaskB);
  const auto got = worker.read("w1", 10, 100ms);  // NOGROUP -> group at 0 -> delivered
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task_id, kTaskB);
  EXPECT_TRUE(worker.pending_for("w2").empty());
}

TEST(TaskQueue, EnqueueManyAddsEveryIdInOrderInOneCall) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  EXPECT_TRUE(queue.enqueue_many({}).empty());
  const std::vector<std::string> entries = queue.enqueue_many({kTaskA, kTaskB, kTaskC});
  ASSERT_EQ(entries.size(), 3u);
  const auto got = queue.read("w1", 10, 100ms);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(ids_of(got), entries);
  EXPECT_EQ(got[0].task_id, kTaskA);
  EXPECT_EQ(got[1].task_id, kTaskB);
  EXPECT_EQ(got[2].task_id, kTaskC);
  // A thousand at once (a full batch), on a fresh stream.
  TaskQueue fresh(options(), unique_queue());
  std::vector<std::string> many;
  for (int i = 0; i < 1000; ++i) {
    char id[37];
    std::snprintf(id, sizeof id, "0b9e7c2a-3a53-4c9b-9a43-%012d", i);
    many.push_back(id);
  }
  EXPECT_EQ(fresh.enqueue_many(many).size(), 1000u);
  EXPECT_EQ(fresh.depth().length, 1000);
  EXPECT_EQ(fresh.task_ids().size(), 1000u);
  // One bad id and nothing is sent.
  EXPECT_THROW(fresh.enqueue_many({kTaskA, "not-a-uuid"}), std::invalid_argument);
  EXPECT_EQ(fresh.depth().length, 1000);
}

TEST(TaskQueue, AckManyAcknowledgesEachEntryOnceInOneCall) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  const auto entries = queue.enqueue_many({kTaskA, kTaskB, kTaskC});
  ASSERT_EQ(queue.read("w1", 10, 100ms).size(), 3u);
  EXPECT_TRUE(queue.ack_many({}).empty());
  EXPECT_EQ(queue.ack_many({entries[0], entries[2], "0-1"}), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(queue.ack_many({entries[0], entries[1]}), (std::vector<bool>{false, true}));
  const QueueDepth d = queue.depth();
  EXPECT_EQ(d.length, 0);  // acknowledged entries leave the stream
  EXPECT_EQ(d.pending, 0);
}

// What KEDA's redis-streams triggers read (deploy/k8s/base/18-worker-scaledobject.yaml):
// lagCount reads XINFO GROUPS "lag", streamLength reads XLEN. Workers delete an
// entry when they acknowledge it, in the order renders finish; once the last
// delivered entry is deleted while an older one is still rendering, Redis
// cannot count the lag and answers NULL, which KEDA reads as 0. XLEN stays
// exact (the stream holds only unfinished entries), so the streamLength
// trigger sees the backlog grow then.
TEST(TaskQueue, TheBacklogTheScalerReadsRisesWhenAcknowledgedEntriesAreDeleted) {
  const QueueOptions q = unique_queue();
  TaskQueue queue(options(), q);
  RedisConnection c(options());
  const auto group_lag = [&]() -> std::optional<long long> {
    const RedisReply groups = c.command({"XINFO", "GROUPS", q.stream});
    for (const RedisReply& g : groups.elements)
      for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2)
        if (g.elements[i].str == "lag")
          return g.elements[i + 1].type == RedisReply::Type::integer ? std::optional(g.elements[i + 1].integer)
                                                                      : std::nullopt;
    return std::nullopt;
  };
  const auto stream_length = [&] { return c.command({"XLEN", q.stream}).integer; };
  const auto task = [](int i) {
    char id[40];
    std::snprintf(id, sizeof id, "0b9e7c2a-3a53-4c9b-9a43-1f6c2d6f%04x", i);
    return std::string(id);
  };

  queue.enqueue_many({task(1), task(2)});
  const auto batch = queue.read("w1", 10, 100ms);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(group_lag(), 0);
  // The second render finishes first; the first is still rendering.
  ASSERT_EQ(queue.ack_many({batch[1].id}), std::vector<bool>{true});
  long long before = stream_length();
  EXPECT_EQ(before, 1);
  for (int i = 3; i < 3 + 40; ++i) {
    queue.enqueue(task(i));
    const long long now = stream_length();
    EXPECT_EQ(now, before + 1) << "XLEN counts every queued task";
    before = now;
    EXPECT_EQ(group_lag(), std::nullopt)
        << "Redis counts the lag here now: a lagCount trigger alone would see this backlog";
  }
  EXPECT_EQ(stream_length(), 41);  // 40 queued + 1 rendering
  EXPECT_EQ(queue.depth().undelivered, 40);  // what /metrics reports is exact too

  // Draining: XLEN falls with each finished task and ends at 0.
  ASSERT_EQ(queue.ack_many({batch[0].id}), std::vector<bool>{true});
  const auto rest = queue.read("w1", 100, 100ms);
  ASSERT_EQ(rest.size(), 40u);
  std::vector<std::string> ids;
  for (const auto& e : rest) ids.push_back(e.id);
  queue.ack_many(ids);
  EXPECT_EQ(stream_length(), 0);
}

TEST(RenderLeases, ManyAtOnceRespectOtherWorkersLeases) {
  const std::string prefix = testing::unique_name("leases") + ":";
  RenderLeases leases(options(), prefix);
  ASSERT_TRUE(leases.acquire(kTaskB, "w2", 5s));
  EXPECT_EQ(leases.acquire_many({kTaskA, kTaskB, kTaskC}, "w1", 5s), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(leases.holder(kTaskA), "w1");
  EXPECT_EQ(leases.holder(kTaskB), "w2");
  // Again by the holder: still held (a redelivery to the same worker).
  EXPECT_EQ(leases.acquire_many({kTaskA}, "w1", 5s), (std::vector<bool>{true}));
  // take_many overrides (entries taken over with XAUTOCLAIM).
  leases.take_many({kTaskB}, "w1", 5s);
  EXPECT_EQ(leases.holder(kTaskB), "w1");
  // release_many deletes only what the worker holds.
  ASSERT_TRUE(leases.acquire("0b9e7c2a-3a53-4c9b-9a43-1f6c2d6f0a04", "w3", 5s));
  leases.release_many({kTaskA, kTaskB, "0b9e7c2a-3a53-4c9b-9a43-1f6c2d6f0a04"}, "w1");
  EXPECT_FALSE(leases.holder(kTaskA));
  EXPECT_FALSE(leases.holder(kTaskB));
  EXPECT_EQ(leases.holder("0b9e7c2a-3a53-4c9b-9a43-1f6c2d6f0a04"), "w3");
}

TEST(RedisConnection, PipelineSendsEverythingThenReadsEveryReplyInOrder) {
  RedisConnection c(options());
  const std::string key = testing::unique_name("pipe");
  std::vector<std::vector<std::string>> commands = {{"MULTI"}};
  for (int i = 0; i < 100; ++i) commands.push_back({"HINCRBY", key, "n", "1"});
  commands.push_back({"EXEC"});
  commands.push_back({"NO-SUCH-COMMAND"});
  commands.push_back({"HGET", key, "n"});
  const auto replies = c.pipeline(commands);
  ASSERT_EQ(replies.size(), commands.size());
  EXPECT_EQ(replies[0].str, "OK");
  EXPECT_EQ(replies[1].str, "QUEUED");
  ASSERT_TRUE(replies[101].is_array());
  EXPECT_EQ(replies[101].elements.size(), 100u);
  EXPECT_EQ(replies[102].type, RedisReply::Type::error) << "an error reply comes back in place";
  EXPECT_EQ(replies[103].str, "100");
  EXPECT_TRUE(c.ping());
}

TEST(TaskQueue, EnqueueRejectsWhatIsNotATaskId) {
  TaskQueue queue(options(), unique_queue());
  EXPECT_THROW(queue.enqueue("%s%s%s"), std::invalid_argument);
  EXPECT_THROW(queue.enqueue(""), std::invalid_argument);
}

TEST(RedisConnection, ArgumentsAreNeverAFormatString) {
  RedisConnection c(options());
  const std::string key = testing::unique_name("fmt") + " %s %b %n\r\n*1";
  const std::string value = std::string("bin\0ary %s\r\n", 13);
  c.command({"SET", key, value});
  EXPECT_EQ(c.command({"GET", key}).str, value);
  EXPECT_THROW(c.command({"NO-SUCH-COMMAND"}), RedisError);
  EXPECT_TRUE(c.ping());  // an error reply leaves the connection usable
}

}  // namespace
}  // namespace fractal::storage
