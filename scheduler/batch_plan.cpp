#include "scheduler/batch_plan.h"

#include <algorithm>
#include <numeric>

namespace fractal::scheduler {
namespace {

std::int64_t grid_samples(const TaskSpec& spec) {
  const std::int64_t ss = spec.output == OutputKind::image ? spec.supersample : 1;
  return static_cast<std::int64_t>(spec.width) * ss * spec.height * ss;
}

}  // namespace

double estimated_cost(const TaskSpec& spec) {
  return static_cast<double>(grid_samples(spec)) * static_cast<double>(spec.max_iter);
}

std::uint64_t estimated_memory(const TaskSpec& spec, std::int64_t band_samples) {
  const std::uint64_t pixels = static_cast<std::uint64_t>(spec.width) * static_cast<std::uint64_t>(spec.height);
  const std::uint64_t image =
      spec.output == OutputKind::iterations
          ? pixels * 4
          : pixels * 3 * ((spec.format == ImageFormat::png || spec.format == ImageFormat::jpg) ? 1 : 2);
  // counts (4 bytes) + |z|^2 (4 bytes) for one band
  const std::uint64_t band = static_cast<std::uint64_t>(std::min(grid_samples(spec), std::max<std::int64_t>(band_samples, 1))) * 8;
  return image + band;
}

std::vector<std::vector<std::size_t>> plan_groups(std::span<const TaskSpec* const> specs, const PlanLimits& limits) {
  std::vector<std::size_t> order(specs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::vector<double> cost(specs.size());
  std::vector<std::uint64_t> memory(specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    cost[i] = estimated_cost(*specs[i]);
    memory[i] = estimated_memory(*specs[i], limits.band_samples);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cost[a] < cost[b]; });

  std::vector<std::vector<std::size_t>> groups;
  double group_cost = 0;
  std::uint64_t group_memory = 0;
  for (std::size_t i : order) {
    const bool fits = !groups.empty() && group_cost + cost[i] <= limits.cost_budget &&
                      group_memory + memory[i] <= limits.memory_budget;
    if (!fits) {
      groups.emplace_back();
      group_cost = 0;
      group_memory = 0;
    }
    groups.back().push_back(i);
    group_cost += cost[i];
    group_memory += memory[i];
  }
  return groups;
}

}  // namespace fractal::scheduler
