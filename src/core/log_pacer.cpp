#include "meshfed/core/log_pacer.hpp"

#include <algorithm>
#include <utility>

namespace meshfed {

std::optional<int64_t> LogPacer::event(const std::string& key, TimePoint now) {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    if (keys_.size() >= max_keys_) {
      keys_.erase(std::min_element(keys_.begin(), keys_.end(),
                                   [](const auto& a, const auto& b) { return a.second.logged < b.second.logged; }));
    }
    keys_.emplace(key, Key{now, 0});
    return 1;
  }
  Key& k = it->second;
  ++k.unlogged;
  // A clock set back counts as "not yet": the line waits for the interval to pass again.
  if (now - k.logged < interval_) return std::nullopt;
  k.logged = now;
  return std::exchange(k.unlogged, 0);
}

}  // namespace meshfed
