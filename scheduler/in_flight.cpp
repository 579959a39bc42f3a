#include "scheduler/in_flight.h"

namespace fractal::scheduler {

void InFlight::add(std::shared_ptr<WorkItem> item) {
  std::lock_guard lock(mutex_);
  entries_.insert(item->entry.id);
  by_task_[item->task_id] = std::move(item);
}

void InFlight::remove(const WorkItem& item) {
  std::lock_guard lock(mutex_);
  entries_.erase(item.entry.id);
  auto it = by_task_.find(item.task_id);
  if (it != by_task_.end() && it->second.get() == &item) by_task_.erase(it);
}

std::vector<std::shared_ptr<WorkItem>> InFlight::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<WorkItem>> out;
  out.reserve(by_task_.size());
  for (const auto& [id, item] : by_task_) out.push_back(item);
  return out;
}

bool InFlight::has_entry(std::string_view entry_id) const {
  std::lock_guard lock(mutex_);
  return entries_.count(std::string(entry_id)) != 0;
}

bool InFlight::has_task(std::string_view task_id) const {
  std::lock_guard lock(mutex_);
  return by_task_.count(std::string(task_id)) != 0;
}

std::size_t InFlight::size() const {
  std::lock_guard lock(mutex_);
  return by_task_.size();
}

void InFlight::set_backlog(std::vector<std::string> entry_ids) {
  std::lock_guard lock(mutex_);
  backlog_ = std::move(entry_ids);
}

std::vector<std::string> InFlight::backlog_ids() const {
  std::lock_guard lock(mutex_);
  return backlog_;
}

}  // namespace fractal::scheduler
