#include "server/images_resource.h"

#include <spdlog/spdlog.h>

#include "kernels/task_spec.h"
#include "runtime/logging.h"
#include "server/task_json.h"
#include "storage/uuid.h"

namespace fractal::server {

void ImagesResource::setup_routes(Router& router) {
  router.add(Pistache::Http::Method::Get, "/download", [this](RequestContext& c) { return download(c); });
}

Reply ImagesResource::download(RequestContext& ctx) {
  const auth::Claims user = s_.bearer.require(ctx);
  reject_unknown_query(ctx, {"id"});
  const auto id = query_param(ctx, "id");
  if (!id || id->empty()) throw invalid_parameter("id", "id: required (GET /download?id=<task id>)");
  const auto canonical = storage::canonical_uuid(*id);
  if (!canonical) throw task_not_found();
  const auto task = s_.tasks.get(user.sub, *canonical);
  if (!task) throw task_not_found();

  switch (task->status) {
    case storage::TaskStatus::queued:
    case storage::TaskStatus::running:
      throw ApiError(
          409, "not_ready",
          "the task is " + std::string(storage::to_string(task->status)) + "; download it once its status is done");
    case storage::TaskStatus::failed:
      throw ApiError(410, "failed", "the task failed" + (task->error ? ": " + *task->error : std::string()));
    case storage::TaskStatus::canceled:
      throw ApiError(410, "canceled", "the task was canceled");
    case storage::TaskStatus::done:
      break;
  }
  // The file the worker recorded (mark_done's file_path); its extension gives
  // the content type. A record without one (never written by a worker) falls
  // back to the name the parameters give.
  std::optional<std::filesystem::path> recorded;
  if (task->file_path) {
    recorded = s_.images.recorded_path(task->id, *task->file_path);
  } else if (const auto spec = stored_spec(*task)) {
    recorded = s_.images.path_for(task->id, file_extension(spec->format));
  }
  std::error_code ec;
  if (!recorded || !std::filesystem::is_regular_file(*recorded, ec)) {
    // Deleted in the meantime (then 404 like any unknown task), or the store lost it.
    if (!s_.tasks.get(user.sub, task->id)) throw task_not_found();
    spdlog::error("event=file_missing task={} recorded={}", task->id, runtime::log_value(task->file_path.value_or("")));
    throw ApiError(500, "file_missing", "the rendered file of this task is missing on the server");
  }
  const std::filesystem::path path = *recorded;
  const std::string ext = path.extension().string().substr(1);
  std::string type = "application/octet-stream";
  for (const ImageFormat f : {ImageFormat::png, ImageFormat::jpg, ImageFormat::tiff, ImageFormat::exr})
    if (file_extension(f) == ext) type = content_type(f);
  Reply reply;
  reply.status = 200;
  reply.file = FileReply{path, type};
  reply.headers = {{"Content-Disposition", "attachment; filename=\"" + task->id + "." + ext + "\""},
                   {"Cache-Control", "private, max-age=0"},
                   {"X-Content-Type-Options", "nosniff"}};
  return reply;
}

}  // namespace fractal::server
