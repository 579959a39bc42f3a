// Parameterises a suite over backend x precision; CUDA cases skip, with the
// reason, where no device (or no CUDA build) is present.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "kernels/renderer.h"

namespace fractal {

using BackendParam = std::tuple<BackendKind, Scalar>;

class BackendTest : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override {
    const BackendKind kind = std::get<0>(GetParam());
    // One renderer per backend for the whole executable: CUDA start-up is not free.
    static std::map<BackendKind, std::shared_ptr<Renderer>> cache;
    static std::map<BackendKind, std::string> unavailable;
    if (!cache.count(kind) && !unavailable.count(kind)) {
      try {
        cache[kind] = make_renderer(kind, {});
      } catch (const BackendUnavailable& e) {
        unavailable[kind] = e.what();
      }
    }
    if (unavailable.count(kind)) GTEST_SKIP() << "backend unavailable: " << unavailable[kind];
    renderer_ = cache[kind];
  }
  Renderer& renderer() { return *renderer_; }
  Scalar scalar() const { return std::get<1>(GetParam()); }

 private:
  std::shared_ptr<Renderer> renderer_;
};

inline std::string backend_param_name(const ::testing::TestParamInfo<BackendParam>& info) {
  const BackendKind k = std::get<0>(info.param);
  return std::string(k == BackendKind::cpu ? "cpu" : "cuda") + "_" +
         std::string(std::get<1>(info.param) == Scalar::f32 ? "float" : "double");
}

#define INSTANTIATE_BACKEND_SUITE(Suite)                                                                 \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                                                             \
                           ::testing::Combine(::testing::Values(BackendKind::cpu, BackendKind::cuda),  \
                                              ::testing::Values(Scalar::f32, Scalar::f64)),             \
                           backend_param_name)

}  // namespace fractal
