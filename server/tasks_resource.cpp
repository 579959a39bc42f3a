#include "server/tasks_resource.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "kernels/color/palette.h"
#include "kernels/task_spec.h"
#include "runtime/logging.h"
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

// The Idempotency-Key header, checked; nullopt when absent.
std::optional<std::string> idempotency_key(const RequestContext& ctx) {
  auto key = request_header(ctx.http, "Idempotency-Key");
  if (key && !valid_idempotency_key(*key))
    throw invalid_parameter("Idempotency-Key", "Idempotency-Key: must be 1 to 255 visible ASCII characters");
  return key;
}

// One task body through the one validation table, as the params to store.
// `where` prefixes the field and message of an error ("tasks[3]" in a batch).
nlohmann::json task_params(const nlohmann::json& body, const std::string& where = {}) {
  const ParseResult parsed = parse_task_spec(body);  // names unknown fields first
  if (parsed.ok()) return to_json(*parsed.spec);
  const FieldError& e = *parsed.error;
  if (where.empty()) throw ApiError(e.http_status, e.code, e.message, e.field);
  if (e.field.empty()) throw ApiError(e.http_status, e.code, where + ": " + e.message, where);
  // Messages start with the field name: "width: ..." -> "tasks[3].width: ...".
  throw ApiError(e.http_status, e.code, where + "." + e.message, where + "." + e.field);
}

// {"tasks": [body, ...]}: every body valid, or a 400 naming the first bad one.
std::vector<nlohmann::json> batch_params(const nlohmann::json& body) {
  reject_unknown_fields(body, {"tasks"});
  const nlohmann::json& list = body["tasks"];
  const std::string rule = "tasks: must be a list of 1 to " + std::to_string(storage::kMaxBatchTasks) + " task objects";
  if (!list.is_array() || list.empty() || list.size() > storage::kMaxBatchTasks)
    throw invalid_parameter("tasks", list.is_array() ? rule + " (got " + std::to_string(list.size()) + ")" : rule);
  std::vector<nlohmann::json> params;
  params.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = "tasks[" + std::to_string(i) + "]";
    if (!list[i].is_object()) throw invalid_parameter(where, where + ": must be a JSON object");
    params.push_back(task_params(list[i], where));
  }
  return params;
}

// The answers of create_many's refusals.
[[noreturn]] void refuse(const storage::SubmissionResult& r, std::size_t count, std::int64_t quota) {
  switch (r.outcome) {
    case storage::CreateOutcome::idempotency_conflict: {
      std::string which;
      if (r.tasks.size() == 1) which = " (task " + r.tasks.front().id + ")";
      if (r.tasks.size() > 1)
        which = " (" + std::to_string(r.tasks.size()) + " tasks, the first " + r.tasks.front().id + ")";
      throw ApiError(422, "idempotency_key_reused",
                     "this Idempotency-Key was already used for a different submission" + which, "Idempotency-Key");
    }
    case storage::CreateOutcome::quota_exceeded:
      if (count == 1)
        throw ApiError(429, "quota_exceeded",
                       "you already have " + std::to_string(r.unfinished) + " unfinished tasks; the limit is " +
                           std::to_string(quota));
      throw ApiError(429, "quota_exceeded",
                     "you have " + std::to_string(r.unfinished) + " unfinished tasks; " + std::to_string(count) +
                         " more would pass the limit of " + std::to_string(quota) + "; nothing was created");
    case storage::CreateOutcome::unknown_owner:
      throw ApiError(401, "invalid_token", "the account of this token no longer exists", {},
                     {{"WWW-Authenticate", "Bearer realm=\"fractal\", error=\"invalid_token\""}});
    case storage::CreateOutcome::created:
    case storage::CreateOutcome::existing:
      break;
  }
  throw std::logic_error("refuse: not a refusal");
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
  router.add(Method::Post, "/tasks/:id/cancel", [this](RequestContext& c) { return cancel(c); });
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
  const bool batch = body.contains("tasks");  // no task field is called that
  storage::Submission submission;
  submission.owner = user.sub;
  submission.batch = batch;
  submission.params = batch ? batch_params(body) : std::vector<nlohmann::json>{task_params(body)};
  submission.idempotency_key = idempotency_key(ctx);
  const std::size_t count = submission.params.size();

  // Joins the next group commit. The answer waits for the commit (durable
  // before 202) on a waiter thread, so this HTTP thread takes the next request
  // at once and concurrent submissions really share one commit.
  auto pending = std::make_shared<std::future<storage::SubmissionResult>>(s_.submits.submit_async(std::move(submission)));
  Reply reply;
  // It answers even to a client that left: the submission commits either way.
  reply.deferred = [this, pending, batch, count, user_id = user.sub](const std::function<bool()>&) {
    return added(pending->get(), batch, count, user_id);
  };
  return reply;
}

Reply TasksResource::added(const storage::SubmissionResult& result, bool batch, std::size_t count,
                           const std::string& user_id) {
  if (result.outcome != storage::CreateOutcome::created && result.outcome != storage::CreateOutcome::existing)
    refuse(result, count, s_.options.quota);
  const bool replayed = result.outcome == storage::CreateOutcome::existing;
  if (!replayed && !batch) spdlog::info("event=task_created task={} user={}", result.tasks.front().id, user_id);
  if (!replayed && batch)
    spdlog::info("event=tasks_created count={} first={} last={} user={}", count, result.tasks.front().id,
                 result.tasks.back().id, user_id);
  HeaderList headers;
  if (replayed) headers.emplace_back("Idempotent-Replayed", "true");
  if (!batch) {
    const storage::TaskRecord& task = result.tasks.front();
    headers.emplace_back("Location", "/tasks/" + task.id);
    return json_reply(202, task_json(task), std::move(headers));
  }
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& t : result.tasks) tasks.push_back(task_json(t));
  return json_reply(202, {{"tasks", std::move(tasks)}}, std::move(headers));
}

Reply TasksResource::cancel(RequestContext& ctx) {
  const auth::Claims user = s_.bearer.require(ctx);
  if (!ctx.http.body().empty()) reject_unknown_fields(read_json_object(ctx), {});  // no body, or {}
  const auto canonical = storage::canonical_uuid(ctx.path_param("id"));
  if (!canonical) throw task_not_found();
  const auto result = s_.tasks.cancel(user.sub, *canonical);
  if (!result) throw task_not_found();
  // A worker rendering it sees it no longer running at its next progress
  // update, stops, and removes whatever it wrote (mark_done refuses a canceled task).
  if (result->canceled) spdlog::info("event=task_canceled task={} user={}", *canonical, user.sub);
  return json_reply(200, task_json(result->task));
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
    spdlog::warn("event=file_remove_failed task={} error={}", *canonical, runtime::log_value(e.what()));
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
