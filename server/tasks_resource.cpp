#include "server/tasks_resource.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "kernels/color/palette.h"
#include "kernels/task_spec.h"
#include "server/logging.h"
#include "server/task_json.h"
#include "storage/uuid.h"

namespace fractal::server {
namespace {

using Pistache::Http::Method;

// 1-255 visible ASCII characters (space allowed inside): keys are opaque
// client tokens, usually UUIDs; anything else is almost surely a bug.
bool valid_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKey) return false;
  for (unsigned char c : key)
    if (c < 0x20 || c > 0x7e) return false;
  return key.front() != ' ' && key.back() != ' ';
}

std::optional<int> parse_int(std::string_view text) {
  int v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

void TasksResource::setup_routes(Router& router) {
  router.add(Method::Post, "/add", [this](RequestContext& c) { return add(c); });
  router.add(Method::Post, "/delete", [this](RequestContext& c) { return delete_by_body(c); });
  router.add(Method::Delete, "/tasks/:id", [this](RequestContext& c) { return delete_by_path(c); });
  router.add(Method::Get, "/tasks", [this](RequestContext& c) { return list(c); });
  router.add(Method::Get, "/tasks/:id", [this](RequestContext& c) { return get(c); });
  router.add(Method::Get, "/stats", [this](RequestContext& c) { return stats(c); });
  router.add(Method::Get, "/palettes", [this](RequestContext& c) { return palettes(c); });
}

Reply TasksResource::add(RequestContext& ctx) {
  const auth::Claims user = s_.bearer.require(ctx);
  const nlohmann::json body = read_json_object(ctx);
  const ParseResult parsed = parse_task_spec(body);  // the one validation table; names unknown fields first
  if (!parsed.ok()) {
    const FieldError& e = *parsed.error;
    throw ApiError(e.http_status, e.code, e.message, e.field);
  }
  const auto key = request_header(ctx.http, "Idempotency-Key");
  if (key && !valid_idempotency_key(*key))
    throw invalid_parameter("Idempotency-Key", "Idempotency-Key: must be 1 to 255 visible ASCII characters");

  const nlohmann::json params = to_json(*parsed.spec);
  const storage::TaskCreateResult result =
      s_.tasks.create(user.sub, params, key ? std::optional<std::string_view>(*key) : std::nullopt);
  switch (result.outcome) {
    case storage::CreateOutcome::created: {
      const storage::TaskRecord& task = *result.task;
      try {
        s_.queue.enqueue(task.id);
      } catch (const storage::StorageUnavailable& e) {
        // Postgres has the task as queued: the reconciler enqueues it once Redis is back.
        spdlog::warn("event=enqueue_failed task={} error=\"{}\"", task.id, log_value(e.what()));
      }
      spdlog::info("event=task_created task={} user={}", task.id, user.sub);
      return json_reply(202, task_json(task), {{"Location", "/tasks/" + task.id}});
    }
    case storage::CreateOutcome::existing:
      return json_reply(202, task_json(*result.task),
                        {{"Location", "/tasks/" + result.task->id}, {"Idempotent-Replayed", "true"}});
    case storage::CreateOutcome::idempotency_conflict:
      throw ApiError(422, "idempotency_key_reused",
                     "this Idempotency-Key was already used for a different submission (task " + result.task->id + ")",
                     "Idempotency-Key");
    case storage::CreateOutcome::quota_exceeded:
      throw ApiError(429, "quota_exceeded",
                     "you already have " + std::to_string(result.unfinished) + " unfinished tasks; the limit is " +
                         std::to_string(s_.options.quota));
    case storage::CreateOutcome::unknown_owner:
      throw ApiError(401, "invalid_token", "the account of this token no longer exists", {},
                     {{"WWW-Authenticate", "Bearer realm=\"fractal\", error=\"invalid_token\""}});
  }
  throw std::logic_error("unhandled create outcome");
}

Reply TasksResource::remove(const auth::Claims& user, std::string_view id) {
  const auto canonical = storage::canonical_uuid(id);
  if (!canonical) throw task_not_found();
  const auto removed = s_.tasks.remove(user.sub, *canonical);
  if (!removed) throw task_not_found();
  // The record is gone: a worker rendering it finds it missing at its next
  // progress update or at mark_done, stops, and removes what it wrote.
  try {
    s_.images.remove(*canonical);
  } catch (const std::exception& e) {
    spdlog::warn("event=file_remove_failed task={} error=\"{}\"", *canonical, log_value(e.what()));
  }
  spdlog::info("event=task_deleted task={} user={} was={}", *canonical, user.sub, storage::to_string(removed->status));
  return json_reply(200, {{"id", *canonical}, {"status", "deleted"}});
}

Reply TasksResource::delete_by_body(RequestContext& ctx) {
  const auth::Claims user = s_.bearer.require(ctx);
  const nlohmann::json body = read_json_object(ctx);
  reject_unknown_fields(body, {"id"});
  return remove(user, required_string(body, "id"));
}

Reply TasksResource::delete_by_path(RequestContext& ctx) {
  const auth::Claims user = s_.bearer.require(ctx);
  return remove(user, ctx.path_param("id"));
}

Reply TasksResource::list(RequestContext& ctx) {
  const auth::Claims user = s_.bearer.require(ctx);
  reject_unknown_query(ctx, {"status", "limit", "before"});
  storage::TaskListQuery query;
  query.limit = kDefaultListLimit;
  if (auto status = query_param(ctx, "status")) {
    query.status = storage::parse_task_status(*status);
    if (!query.status)
      throw invalid_parameter("status", "status: must be one of queued, running, done, failed, canceled");
  }
  if (auto limit = query_param(ctx, "limit")) {
    const auto n = parse_int(*limit);
    if (!n || *n < 1 || *n > kMaxListLimit)
      throw invalid_parameter("limit", "limit: must be an integer from 1 to " + std::to_string(kMaxListLimit));
    query.limit = *n;
  }
  if (auto before = query_param(ctx, "before")) {
    const auto canonical = storage::canonical_uuid(*before);
    if (!canonical) throw invalid_parameter("before", "before: must be a task id");
    query.before = *canonical;
  }
  const storage::TaskPage page = s_.tasks.list(user.sub, query);
  if (!page.before_found) throw invalid_parameter("before", "before: no such task");
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& t : page.tasks) tasks.push_back(task_json(t));
  return json_reply(200, {{"tasks", std::move(tasks)}});
}

Reply TasksResource::get(RequestContext& ctx) {
  const auth::Claims user = s_.bearer.require(ctx);
  const auto canonical = storage::canonical_uuid(ctx.path_param("id"));
  if (!canonical) throw task_not_found();
  const auto task = s_.tasks.get(user.sub, *canonical);
  if (!task) throw task_not_found();
  return json_reply(200, task_json(*task));
}

Reply TasksResource::stats(RequestContext& ctx) {
  const auth::Claims user = s_.bearer.require(ctx);
  reject_unknown_query(ctx, {});
  const storage::StatusCounts counts = s_.tasks.count_by_status(user.sub);
  const storage::QueueDepth depth = s_.queue.depth();
  const std::int64_t workers = s_.metrics.workers_alive();
  const storage::RateSnapshot rate = s_.metrics.rate(std::chrono::seconds(60));
  return json_reply(200, {
                             {"tasks",
                              {{"queued", counts.queued},
                               {"running", counts.running},
                               {"done", counts.done},
                               {"failed", counts.failed},
                               {"canceled", counts.canceled},
                               {"total", counts.total()}}},
                             {"queue_depth", depth.length},
                             {"workers_alive", workers},
                             {"renders_per_second", rate.renders_per_second},
                             {"iterations_per_second", rate.iterations_per_second},
                             {"window_seconds", 60},
                         });
}

Reply TasksResource::palettes(RequestContext&) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : builtin_palettes()) {
    nlohmann::json stops = nlohmann::json::array();
    for (const auto& c : p.stops) stops.push_back(to_hex(c));
    list.push_back({{"name", p.name}, {"description", p.description}, {"stops", std::move(stops)}});
  }
  return json_reply(200, {{"palettes", std::move(list)}});
}

}  // namespace fractal::server
