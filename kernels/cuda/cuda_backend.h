// Entry points of the CUDA backend for kernels/registry.cpp. Plain C++: no
// CUDA header may leak from here into the rest of the code.
#pragma once

#include <memory>
#include <string>

#include "kernels/renderer.h"

namespace fractal {

// The CUDA renderer on options.device. Throws BackendUnavailable with the
// reason when there is no driver, no device, or the device is too old.
[[nodiscard]] std::unique_ptr<Renderer> make_cuda_renderer(const RendererOptions& options);

// True when a CUDA device can be used. Otherwise false, and *reason (when not
// null) says why. Never throws and never touches Thrust.
[[nodiscard]] bool cuda_device_present(std::string* reason);

}  // namespace fractal
