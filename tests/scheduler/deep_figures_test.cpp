// The "deep" figures of the task object and the worker's deep_render log line
// (scheduler/deep_figures.h): every DeepStats figure a client reads, the
// runner included.
#include <gtest/gtest.h>

#include "scheduler/deep_figures.h"

namespace fractal::scheduler {
namespace {

TEST(DeepFigures, NameEveryFigureAndTheRunner) {
  deep::DeepStats d;
  d.reference_length = 2001;
  d.references = 2;
  d.orbit_cache_hits = 1;
  d.orbit_seconds = 0.000478;
  d.pixel_seconds = 0.001718;
  d.iterations = 1000;
  d.bla_skipped = 250;
  d.rebases = 7;
  d.runner = "cuda:0";
  const nlohmann::json f = deep_figures_json(d);
  EXPECT_EQ(f["reference_length"], 2001);
  EXPECT_EQ(f["references"], 2);
  EXPECT_EQ(f["orbit_cache_hits"], 1);
  EXPECT_DOUBLE_EQ(f["orbit_ms"].get<double>(), 0.478);
  EXPECT_DOUBLE_EQ(f["pixel_ms"].get<double>(), 1.718);
  EXPECT_DOUBLE_EQ(f["bla_skip_ratio"].get<double>(), 0.25);
  EXPECT_EQ(f["rebases"], 7);
  EXPECT_EQ(f["runner"], "cuda:0");
  EXPECT_EQ(f.size(), 8u) << f.dump();
}

}  // namespace
}  // namespace fractal::scheduler
