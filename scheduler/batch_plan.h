// Splits a batch of claimed tasks into render groups: each group becomes ONE
// render_tasks call (one tile queue, one launch per round on CUDA over all its
// tasks). Results of a group are only handed to the encoder when its whole
// call returns, so cheap tasks are grouped together and rendered first, and a
// task far more expensive than the budget gets a call of its own instead of
// holding the cheap ones back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/task_spec.h"

namespace fractal::scheduler {

struct PlanLimits {
  double cost_budget = 4e9;                                // worst-case iterations per group
  std::uint64_t memory_budget = std::uint64_t{2} << 30;    // output images + band buffers per group
  std::int64_t band_samples = std::int64_t{1} << 24;       // the renderer's band size
};

// Worst case of the iterations a task can need: samples x max_iter.
[[nodiscard]] double estimated_cost(const TaskSpec& spec);
// Output image plus the per-task band buffers render_tasks allocates.
[[nodiscard]] std::uint64_t estimated_memory(const TaskSpec& spec, std::int64_t band_samples);

// Groups of indices into `specs`, cheapest first. Every index appears in
// exactly one group; a group holds at least one task even when that task alone
// exceeds a budget.
[[nodiscard]] std::vector<std::vector<std::size_t>> plan_groups(std::span<const TaskSpec* const> specs,
                                                                 const PlanLimits& limits);

}  // namespace fractal::scheduler
