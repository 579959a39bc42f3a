// A scoped NVTX range for Nsight Systems, usable from host-only code. Real
// when the build has the CUDA toolkit (FRACTAL_WITH_NVTX, header-only NVTX3),
// a no-op otherwise, so CPU-only builds need nothing.
#pragma once

#ifdef FRACTAL_WITH_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

namespace fractal {

class NvtxRange {
 public:
#ifdef FRACTAL_WITH_NVTX
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
#else
  explicit NvtxRange(const char*) {}
#endif
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace fractal
