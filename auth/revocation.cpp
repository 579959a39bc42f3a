#include "auth/revocation.h"

#include <algorithm>
#include <utility>

namespace fractal::auth {

InMemoryRevocationStore::InMemoryRevocationStore(SteadyClock clock) : clock_(std::move(clock)) {}

bool InMemoryRevocationStore::is_revoked(std::string_view jti) {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  const auto it = expiry_.find(std::string(jti));
  if (it == expiry_.end()) return false;
  if (it->second <= now) {
    expiry_.erase(it);
    return false;
  }
  return true;
}

void InMemoryRevocationStore::revoke(std::string_view jti, std::chrono::seconds ttl) {
  if (ttl.count() <= 0) return;
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  auto& expiry = expiry_[std::string(jti)];
  expiry = std::max(expiry, now + ttl);  // never shorten an existing revocation
  if (++since_sweep_ >= 256) sweep(now);
}

std::size_t InMemoryRevocationStore::size() {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  sweep(now);
  return expiry_.size();
}

void InMemoryRevocationStore::sweep(std::chrono::steady_clock::time_point now) {
  since_sweep_ = 0;
  std::erase_if(expiry_, [now](const auto& entry) { return entry.second <= now; });
}

}  // namespace fractal::auth
