// fractal-bench-reference: the plain scalar IEEE double loop of the tests, one
// thread, on workload A or B: the baseline the kernel figures are compared with
// in the same run (the stack notes we started from quote ~0.4 G iter/s for it on B).
//   fractal-bench-reference A|B
#include <chrono>
#include <cstdio>
#include <cstring>

#include "tests/kernels/reference.h"

int main(int argc, char** argv) {
  const bool a = argc > 1 && std::strcmp(argv[1], "A") == 0;
  fractal::RenderJob j;
  j.center_re = a ? -0.5 : -0.75;
  j.scale = a ? 2.0 : 2.5;
  j.grid_width = j.grid_height = a ? 16000 : 4096;
  j.max_iter = a ? 50 : 1000;
  j.rows = 1;
  unsigned long long total = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < j.grid_height; ++r) {
    j.row0 = r;
    for (auto c : fractal::test::reference_counts(j)) total += c;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("reference workload=%s precision=double threads=1 seconds=%.3f iterations=%llu G_iter_per_s=%.3f\n",
              a ? "A" : "B", s, total, total / s / 1e9);
}
