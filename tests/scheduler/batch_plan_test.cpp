#include <gtest/gtest.h>

#include <algorithm>

#include "scheduler/batch_plan.h"

namespace fractal::scheduler {
namespace {

TaskSpec spec(int w, int h, int max_iter) {
  TaskSpec s;
  s.width = w;
  s.height = h;
  s.max_iter = max_iter;
  return s;
}

std::vector<std::vector<std::size_t>> plan(const std::vector<TaskSpec>& specs, const PlanLimits& limits = {}) {
  std::vector<const TaskSpec*> p;
  for (const auto& s : specs) p.push_back(&s);
  return plan_groups(p, limits);
}

void expect_partition(const std::vector<std::vector<std::size_t>>& groups, std::size_t n) {
  std::vector<std::size_t> all;
  for (const auto& g : groups) {
    EXPECT_FALSE(g.empty());
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), n);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(all[i], i);
}

TEST(BatchPlan, SmallTasksShareOneGroup) {
  std::vector<TaskSpec> specs(20, spec(64, 48, 500));
  const auto groups = plan(specs);
  ASSERT_EQ(groups.size(), 1u);
  expect_partition(groups, 20);
}

TEST(BatchPlan, AnExpensiveTaskGetsItsOwnCallAfterTheCheapOnes) {
  std::vector<TaskSpec> specs{spec(4096, 4096, 100000), spec(64, 48, 500), spec(800, 600, 500)};
  const auto groups = plan(specs);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(groups[1], (std::vector<std::size_t>{0}));
}

TEST(BatchPlan, BudgetsSplitGroupsButNeverDropATask) {
  std::vector<TaskSpec> specs(10, spec(1000, 1000, 1000));  // 1e9 each
  PlanLimits limits;
  limits.cost_budget = 3.5e9;
  auto groups = plan(specs, limits);
  EXPECT_EQ(groups.size(), 4u);  // 3 + 3 + 3 + 1
  expect_partition(groups, 10);

  limits = PlanLimits{};
  limits.memory_budget = estimated_memory(specs[0], limits.band_samples) * 2;
  groups = plan(specs, limits);
  EXPECT_EQ(groups.size(), 5u);
  expect_partition(groups, 10);

  limits.cost_budget = 1;  // every task exceeds it alone: one task per group
  groups = plan(specs, limits);
  EXPECT_EQ(groups.size(), 10u);
  expect_partition(groups, 10);
}

TEST(BatchPlan, CostAndMemoryEstimates) {
  TaskSpec s = spec(100, 50, 10);
  s.supersample = 2;
  EXPECT_DOUBLE_EQ(estimated_cost(s), 200.0 * 100 * 10);
  EXPECT_EQ(estimated_memory(s, 1 << 24), 100u * 50 * 3 + 200u * 100 * 8);
  s.output = OutputKind::iterations;
  s.format = ImageFormat::exr;
  EXPECT_DOUBLE_EQ(estimated_cost(s), 100.0 * 50 * 10);  // no supersampling for iterations
  EXPECT_EQ(estimated_memory(s, 1000), 100u * 50 * 4 + 1000u * 8);
}

}  // namespace
}  // namespace fractal::scheduler
