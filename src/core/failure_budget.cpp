#include "meshfed/core/failure_budget.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace meshfed {

FailureBudget::Source& FailureBudget::find(const std::string& source, TimePoint now) {
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= limits_.max_sources) make_room(now);
    it = sources_.emplace(source, Source{limits_.burst, now}).first;
  }
  Source& s = it->second;
  // A clock set back refills nothing, and never drains.
  const auto elapsed = std::max(now - s.updated, TimePoint::duration::zero());
  s.tokens = std::min(
      limits_.burst, s.tokens + std::chrono::duration<double>(elapsed) / std::chrono::duration<double>(limits_.refill));
  s.updated = now;
  return s;
}

void FailureBudget::make_room(TimePoint now) {
  auto oldest = sources_.end();
  for (auto it = sources_.begin(); it != sources_.end();) {
    const auto elapsed = std::max(now - it->second.updated, TimePoint::duration::zero());
    const double tokens =
        it->second.tokens + std::chrono::duration<double>(elapsed) / std::chrono::duration<double>(limits_.refill);
    if (tokens >= limits_.burst) {
      it = sources_.erase(it);  // back to a full bucket: forgetting it changes nothing
      continue;
    }
    if (oldest == sources_.end() || it->second.updated < oldest->second.updated) oldest = it;
    ++it;
  }
  if (sources_.size() >= limits_.max_sources && oldest != sources_.end()) sources_.erase(oldest);
}

std::chrono::seconds FailureBudget::retry_after(const std::string& source) {
  MutexLock lock(mu_);
  if (!sources_.count(source)) return std::chrono::seconds(0);  // a source that never failed is not tracked
  const Source& s = find(source, clock_.now());
  if (s.tokens >= 1) return std::chrono::seconds(0);
  const double wait_ms = (1 - s.tokens) * static_cast<double>(limits_.refill.count());
  return std::chrono::seconds(static_cast<int64_t>(std::ceil(wait_ms / 1000.0)));
}

std::optional<int64_t> FailureBudget::failed(const std::string& source) {
  MutexLock lock(mu_);
  const TimePoint now = clock_.now();
  Source& s = find(source, now);
  s.tokens = std::max(0.0, s.tokens - 1);
  return pacer_.event(source, now);
}

size_t FailureBudget::sources() const {
  MutexLock lock(mu_);
  return sources_.size();
}

std::string address_of(const std::string& remote) {
  const auto colon = remote.rfind(':');
  if (colon == std::string::npos) return remote;
  std::string address = remote.substr(0, colon);
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  return address;
}

}  // namespace meshfed
