// RAII for CUDA memory: device arrays, pinned host arrays and the cache of
// Thrust's temporary storage. Every allocation is released by its owner's
// destructor; every call goes through CUDA_CHECK.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <map>

#include "kernels/cuda/cuda_check.cuh"

namespace fractal::cuda {

// Device memory that grows on demand (contents are dropped when it grows) and
// is otherwise reused from call to call.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { release(); }

  void reserve(std::size_t n) {
    if (n <= size_) return;
    release();
    n = std::max(n, size_ + size_ / 2);
    void* p = nullptr;
    CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
    ptr_ = static_cast<T*>(p);
    size_ = n;
  }
  [[nodiscard]] T* get() const { return ptr_; }

 private:
  void release() noexcept {
    if (ptr_ != nullptr) CUDA_CHECK_NOTHROW(cudaFree(ptr_));
    ptr_ = nullptr;
    size_ = 0;
  }
  T* ptr_ = nullptr;
  std::size_t size_ = 0;
};

// Pinned (page-locked) host memory: the only kind the copy engine moves
// asynchronously. Grows on demand, reused from call to call.
template <class T>
class PinnedArray {
 public:
  PinnedArray() = default;
  PinnedArray(const PinnedArray&) = delete;
  PinnedArray& operator=(const PinnedArray&) = delete;
  ~PinnedArray() { release(); }

  void reserve(std::size_t n) {
    if (n <= size_) return;
    release();
    void* p = nullptr;
    CUDA_CHECK(cudaMallocHost(&p, n * sizeof(T)));
    ptr_ = static_cast<T*>(p);
    size_ = n;
  }
  [[nodiscard]] T* get() const { return ptr_; }
  T& operator[](std::size_t i) const { return ptr_[i]; }

 private:
  void release() noexcept {
    if (ptr_ != nullptr) CUDA_CHECK_NOTHROW(cudaFreeHost(ptr_));
    ptr_ = nullptr;
    size_ = 0;
  }
  T* ptr_ = nullptr;
  std::size_t size_ = 0;
};

// Thrust's temporary storage, cached across calls: no cudaMalloc/cudaFree
// (which synchronises the device) per reduction after the first ones.
class ThrustScratch {
 public:
  using value_type = char;
  ThrustScratch() = default;
  ThrustScratch(const ThrustScratch&) = delete;
  ThrustScratch& operator=(const ThrustScratch&) = delete;
  ~ThrustScratch() {
    for (auto& [size, p] : free_) CUDA_CHECK_NOTHROW(cudaFree(p));
    for (auto& [p, size] : used_) CUDA_CHECK_NOTHROW(cudaFree(p));
  }
  char* allocate(std::ptrdiff_t n) {
    const auto bytes = static_cast<std::size_t>(n);
    if (auto it = free_.lower_bound(bytes); it != free_.end()) {
      char* p = it->second;
      used_.emplace(p, it->first);
      free_.erase(it);
      return p;
    }
    void* p = nullptr;
    CUDA_CHECK(cudaMalloc(&p, bytes));
    used_.emplace(static_cast<char*>(p), bytes);
    return static_cast<char*>(p);
  }
  void deallocate(char* p, std::size_t) {
    if (auto it = used_.find(p); it != used_.end()) {
      free_.emplace(it->second, p);
      used_.erase(it);
    }
  }

 private:
  std::multimap<std::size_t, char*> free_;
  std::map<char*, std::size_t> used_;
};

}  // namespace fractal::cuda
