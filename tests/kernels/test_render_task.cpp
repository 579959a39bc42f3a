// The TaskSpec -> image pipeline: exact iteration output, banding that does
// not change a pixel, two-pass histograms, progress and cancellation.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kernels/render_task.h"
#include "kernels/renderer.h"
#include "tests/kernels/reference.h"

namespace fractal {
namespace {

using nlohmann::json;

TaskSpec spec_of(const json& body) {
  ParseResult r = parse_task_spec(body);
  EXPECT_TRUE(r.ok()) << (r.error ? r.error->message : "");
  return *r.spec;
}

std::unique_ptr<Renderer> cpu() { return make_renderer(BackendKind::cpu, {.threads = 2}); }

ImageBuffer render(const TaskSpec& spec, std::int64_t band_samples = std::int64_t{1} << 24, TaskRun* out = nullptr) {
  auto r = cpu();
  TaskRun run(spec);
  TaskRun* runs[] = {&run};
  render_tasks(*r, runs, {.band_samples = band_samples});
  EXPECT_FALSE(run.canceled);
  EXPECT_EQ(run.samples_done.load(), run.samples_total.load());
  EXPECT_DOUBLE_EQ(run.progress(), 1.0);
  if (out) {
    out->iterations = run.iterations;
    out->scalar = run.scalar;
  }
  return std::move(run.image);
}

TEST(RenderTask, IterationsOutputIsTheExactCounts) {
  const TaskSpec spec = spec_of(json{{"width", 97}, {"height", 61}, {"max_iter", 300}, {"output", "iterations"},
                                     {"format", "exr"}, {"precision", "double"}});
  TaskSpec copy = spec;
  TaskRun stats(copy);
  const ImageBuffer img = render(spec, 1 << 24, &stats);
  ASSERT_EQ(img.channels, 1);
  ASSERT_EQ(img.type, PixelType::f32);
  RenderJob j;
  j.center_re = -0.5;
  j.scale = 3.0;
  j.grid_width = 97;
  j.grid_height = 61;
  j.rows = 61;
  j.max_iter = 300;
  const auto ref = test::reference_counts(j);
  std::uint64_t sum = 0;
  for (int y = 0; y < 61; ++y)
    for (int x = 0; x < 97; ++x) {
      ASSERT_EQ(img.row<float>(y)[x], static_cast<float>(ref[static_cast<std::size_t>(y) * 97 + x])) << x << "," << y;
      sum += ref[static_cast<std::size_t>(y) * 97 + x];
    }
  EXPECT_EQ(stats.iterations, sum);
  EXPECT_EQ(stats.scalar, Scalar::f64);
}

TEST(RenderTask, BandingChangesNoPixel) {
  for (const char* coloring : {"smooth", "bands", "histogram"}) {
    for (int ss : {1, 2, 3}) {
      SCOPED_TRACE(std::string(coloring) + " ss " + std::to_string(ss));
      const TaskSpec spec = spec_of(json{{"width", 83}, {"height", 47}, {"max_iter", 200}, {"coloring", coloring},
                                         {"supersample", ss}, {"center", {-0.74, 0.12}}, {"scale", 0.3}});
      const ImageBuffer whole = render(spec);
      // Bands of about 5 pixel rows: histogram colouring takes two passes.
      const ImageBuffer banded = render(spec, static_cast<std::int64_t>(83) * ss * 5 * ss);
      ASSERT_EQ(whole.data.size(), banded.data.size());
      EXPECT_TRUE(whole.data == banded.data);
    }
  }
}

TEST(RenderTask, BatchOfTasksMatchesSeparateRuns) {
  const TaskSpec a = spec_of(json{{"width", 64}, {"height", 48}, {"max_iter", 100}});
  const TaskSpec b = spec_of(json{{"fractal", "julia"}, {"julia_c", {-0.4, 0.6}}, {"width", 50}, {"height", 50},
                                  {"coloring", "histogram"}, {"format", "tiff"}});
  const TaskSpec c = spec_of(json{{"width", 33}, {"height", 20}, {"output", "iterations"}, {"format", "tiff"}});
  auto r = cpu();
  TaskRun ra(a), rb(b), rc(c);
  TaskRun* runs[] = {&ra, &rb, &rc};
  render_tasks(*r, runs);
  EXPECT_TRUE(ra.image.data == render(a).data);
  EXPECT_TRUE(rb.image.data == render(b).data);
  EXPECT_TRUE(rc.image.data == render(c).data);
  EXPECT_EQ(rb.image.type, PixelType::u16);
}

TEST(RenderTask, CanceledTaskStopsOthersFinish) {
  const TaskSpec big = spec_of(json{{"width", 2000}, {"height", 2000}, {"max_iter", 100000}, {"center", {-0.1, 0.1}},
                                    {"scale", 0.01}});
  const TaskSpec small = spec_of(json{{"width", 40}, {"height", 30}});
  auto r = cpu();
  TaskRun rbig(big), rsmall(small);
  rbig.cancel = true;
  TaskRun* runs[] = {&rbig, &rsmall};
  render_tasks(*r, runs);
  EXPECT_TRUE(rbig.canceled);
  EXPECT_FALSE(rsmall.canceled);
  EXPECT_DOUBLE_EQ(rsmall.progress(), 1.0);
}

}  // namespace
}  // namespace fractal
