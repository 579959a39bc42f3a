// The render stage: splits the claimed tasks into render groups (batch_plan.h)
// and renders each group with one render_tasks call, handing the images to
// the output stage. A group whose render throws is split to find the task
// that fails; the others still render.
#pragma once

#include <memory>
#include <vector>

#include "kernels/renderer.h"
#include "scheduler/batch_plan.h"
#include "scheduler/in_flight.h"
#include "scheduler/output_stage.h"
#include "scheduler/worker_context.h"

namespace fractal::scheduler {

class RenderStage {
 public:
  RenderStage(WorkerContext& ctx, std::shared_ptr<Renderer> renderer, OutputStage& output);

  void render(const std::vector<std::shared_ptr<WorkItem>>& items);

 private:
  void render_group(const std::vector<std::shared_ptr<WorkItem>>& group);

  WorkerContext& ctx_;
  std::shared_ptr<Renderer> renderer_;
  OutputStage& output_;
  PlanLimits limits_;
};

}  // namespace fractal::scheduler
