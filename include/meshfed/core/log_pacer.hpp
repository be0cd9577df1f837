// One log line per key per interval instead of one per event: what strangers choose to repeat
// (refused connections, failed handshakes) must not choose how much we log. The line that is
// due carries how many events it stands for. The table of keys is bounded: at capacity the key
// logged longest ago is forgotten (it then logs again at once, which is harmless). Not
// thread-safe: the owner's lock guards it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "meshfed/core/clock.hpp"

namespace meshfed {

class LogPacer {
 public:
  explicit LogPacer(std::chrono::seconds interval = std::chrono::seconds(60), size_t max_keys = 4096)
      : interval_(interval), max_keys_(max_keys) {}

  // Records one event of `key` at `now`. When a line is due (the key's first event, or the
  // first after the interval since its last line), how many events the line reports.
  std::optional<int64_t> event(const std::string& key, TimePoint now);

  size_t keys() const { return keys_.size(); }

 private:
  struct Key {
    TimePoint logged;
    int64_t unlogged = 0;
  };
  std::chrono::seconds interval_;
  size_t max_keys_;
  std::unordered_map<std::string, Key> keys_;
};

}  // namespace meshfed
