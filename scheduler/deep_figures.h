// The figures of a deep render as the task object shows them ("deep" in
// GET /tasks/<id>, docs/api.md) and the worker's event=deep_render log line
// names them: one place for the names.
#pragma once

#include <cmath>

#include <nlohmann/json.hpp>

#include "kernels/deep/deep_render.h"

namespace fractal::scheduler {

[[nodiscard]] inline double deep_bla_skip_ratio(const deep::DeepStats& d) {
  return d.iterations ? static_cast<double>(d.bla_skipped) / static_cast<double>(d.iterations) : 0.0;
}

[[nodiscard]] inline nlohmann::json deep_figures_json(const deep::DeepStats& d) {
  // Divided (not multiplied) back, so the JSON shows 0.217927, not 0.21792699999999998.
  const auto rounded = [](double v, double per_unit) { return std::round(v * per_unit) / per_unit; };
  return {
      {"reference_length", d.reference_length},  // iterations of the reference orbit at the view's centre
      {"references", d.references},              // orbits used: 1 + re-references
      {"orbit_cache_hits", d.orbit_cache_hits},  // of those, taken from the worker's orbit cache
      {"orbit_ms", rounded(d.orbit_seconds * 1000.0, 1e3)},   // computing reference orbits (MPFR)
      {"pixel_ms", rounded(d.pixel_seconds * 1000.0, 1e3)},   // perturbation of every sample
      {"bla_skip_ratio", rounded(deep_bla_skip_ratio(d), 1e6)},  // share of iterations done by BLA steps
      {"rebases", d.rebases},                    // summed over samples
      {"runner", d.runner},                      // where the samples ran: "cpu" or "cuda:<device>"
  };
}

}  // namespace fractal::scheduler
