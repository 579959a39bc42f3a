// A CUDA warp emulated on the host: 32 std::threads, ballot/shuffle through a
// barrier. Implements the Warp interface of the device scheduling code
// (kernels/cuda/device_warp.cuh) so that it runs unchanged in the tests.
#pragma once

#include <atomic>
#include <barrier>

struct WarpShared {
  std::barrier<> bar{32};
  unsigned vals[32];
};

struct HostWarp {
  WarpShared* sh;
  unsigned id;
  unsigned lane() const { return id; }
  unsigned ballot(bool p) {
    sh->vals[id] = p ? 1u : 0u;
    sh->bar.arrive_and_wait();
    unsigned m = 0;
    for (int i = 0; i < 32; ++i) if (sh->vals[i]) m |= 1u << i;
    sh->bar.arrive_and_wait();
    return m;
  }
  unsigned fetch_add(unsigned* c) {
    if (id == 0) sh->vals[0] = std::atomic_ref<unsigned>(*c).fetch_add(1u);
    sh->bar.arrive_and_wait();
    const unsigned v = sh->vals[0];
    sh->bar.arrive_and_wait();
    return v;
  }
  int uniform_load(const int* p) {
    if (id == 0) sh->vals[0] = static_cast<unsigned>(std::atomic_ref<int>(*const_cast<int*>(p)).load());
    sh->bar.arrive_and_wait();
    const int v = static_cast<int>(sh->vals[0]);
    sh->bar.arrive_and_wait();
    return v;
  }
};
