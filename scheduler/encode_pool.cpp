#include "scheduler/encode_pool.h"

#include <algorithm>
#include <chrono>

namespace fractal::scheduler {

EncodePool::EncodePool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { loop(); });
}

EncodePool::~EncodePool() { finish(); }

void EncodePool::submit(std::function<void()> job, std::uint64_t bytes) {
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(std::move(job), bytes);
    bytes_ += bytes;
  }
  work_.notify_one();
}

void EncodePool::wait_below(std::uint64_t limit, const std::function<bool()>& give_up) {
  std::unique_lock lock(mutex_);
  while (bytes_ > limit && !give_up()) freed_.wait_for(lock, std::chrono::milliseconds(50));
}

void EncodePool::finish() {
  {
    std::lock_guard lock(mutex_);
    if (finishing_ && threads_.empty()) return;
    finishing_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(mutex_);
  threads_.clear();
}

std::size_t EncodePool::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + running_;
}

void EncodePool::loop() {
  for (;;) {
    std::pair<std::function<void()>, std::uint64_t> job;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return finishing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // finishing and nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    try {
      job.first();
    } catch (...) {
      // Jobs report their own failures; one that escapes must not end the thread.
    }
    {
      std::lock_guard lock(mutex_);
      --running_;
      bytes_ -= job.second;
    }
    freed_.notify_all();
  }
}

}  // namespace fractal::scheduler
