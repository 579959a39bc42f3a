// The only place that knows which backends exist.
#include <string>

#include "kernels/cpu/cpu_renderer.h"
#include "kernels/renderer.h"

#ifdef FRACTAL_WITH_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace fractal {

bool cuda_backend_built() {
#ifdef FRACTAL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Renderer> make_renderer(BackendKind kind, const RendererOptions& options) {
  switch (kind) {
    case BackendKind::cpu:
      return make_cpu_renderer(options);
    case BackendKind::cuda:
#ifdef FRACTAL_WITH_CUDA
      return make_cuda_renderer(options);
#else
      throw BackendUnavailable("the CUDA backend is not built into this binary (configure with -DFRACTAL_CUDA=ON)");
#endif
    case BackendKind::automatic:
#ifdef FRACTAL_WITH_CUDA
      if (std::string why; cuda_device_present(&why)) return make_cuda_renderer(options);
#endif
      return make_cpu_renderer(options);
  }
  throw BackendUnavailable("unknown backend");
}

std::optional<BackendKind> parse_backend(std::string_view text) {
  if (text == "auto") return BackendKind::automatic;
  if (text == "cpu") return BackendKind::cpu;
  if (text == "cuda") return BackendKind::cuda;
  return std::nullopt;
}

}  // namespace fractal
