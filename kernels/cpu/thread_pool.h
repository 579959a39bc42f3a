// A fixed pool of threads that runs one parallel region at a time: every
// worker (and the caller) runs body(worker_index) until the region's shared
// work is exhausted. Used by the CPU renderer and colouring.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fractal::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  [[nodiscard]] int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs body on every thread (index 0 is the caller) and returns when all are done.
  void run(const std::function<void(int)>& body);

 private:
  void loop(int index);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* body_ = nullptr;
  unsigned long generation_ = 0;
  int running_ = 0;
  bool stop_ = false;
};

// Threads to use when the caller asked for `requested` (0 = all cores).
[[nodiscard]] int resolve_threads(int requested);

}  // namespace fractal::cpu
