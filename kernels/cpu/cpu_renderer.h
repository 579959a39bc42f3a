#pragma once

#include <memory>

#include "kernels/renderer.h"

namespace fractal {

// Multi-core SIMD backend: a thread pool over row tiles of every job in the batch.
[[nodiscard]] std::unique_ptr<Renderer> make_cpu_renderer(const RendererOptions& options);

}  // namespace fractal
