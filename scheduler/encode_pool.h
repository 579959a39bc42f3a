// The output stage: a few threads that encode and write finished images (and
// record them) while the render thread goes on with the next group. Counts the
// bytes of the images it holds so the render thread can wait before it
// produces more than memory allows.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fractal::scheduler {

class EncodePool {
 public:
  explicit EncodePool(int threads);
  ~EncodePool();  // finish()
  EncodePool(const EncodePool&) = delete;
  EncodePool& operator=(const EncodePool&) = delete;

  // Queues a job holding `bytes` of image memory until it returns.
  void submit(std::function<void()> job, std::uint64_t bytes);
  // Blocks while the queued and running jobs hold more than `limit` bytes;
  // returns early once `give_up()` is true (polled every 50 ms).
  void wait_below(std::uint64_t limit, const std::function<bool()>& give_up);
  // Runs every queued job, then stops the threads. Idempotent.
  void finish();

  [[nodiscard]] std::size_t pending() const;  // queued + running jobs

 private:
  void loop();

  mutable std::mutex mutex_;
  std::condition_variable work_, freed_;
  std::deque<std::pair<std::function<void()>, std::uint64_t>> queue_;
  std::uint64_t bytes_ = 0;
  std::size_t running_ = 0;
  bool finishing_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace fractal::scheduler
