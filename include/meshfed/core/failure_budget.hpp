// Slows a source that keeps failing to authenticate. Each source address has a bucket of
// failures it may make (a burst, refilled at a steady rate); while the bucket is empty the
// source is refused before its credentials are looked at, so guessing costs the guesser time
// and the broker nothing, and one log line per source per interval (with the count) replaces a
// line per failure. The table of sources is bounded: at capacity, a source that is back to a
// full bucket, else the one heard from longest ago, makes room (a flood of fresh addresses
// forgets old ones; it cannot grow memory).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "meshfed/core/clock.hpp"
#include "meshfed/core/log_pacer.hpp"
#include "meshfed/core/mutex.hpp"

namespace meshfed {

class FailureBudget {
 public:
  struct Limits {
    double burst = 20;                       // failures a source may make in a row
    std::chrono::milliseconds refill{2000};  // one more failure allowed per this much time
    std::chrono::seconds log_interval{60};
    size_t max_sources = 4096;
  };

  explicit FailureBudget(const Clock& clock) : FailureBudget(clock, Limits{}) {}
  FailureBudget(const Clock& clock, Limits limits)
      : clock_(clock), limits_(limits), pacer_(limits.log_interval, limits.max_sources) {}

  // Zero while `source` may try; otherwise how long until it may (whole seconds, rounded up,
  // for Retry-After). Thread-safe, as is everything here.
  std::chrono::seconds retry_after(const std::string& source);

  // Records one failure of `source`. When a log line is due (its first failure, or the first
  // after log_interval since the last line), how many failures the line reports.
  std::optional<int64_t> failed(const std::string& source);

  size_t sources() const;

 private:
  struct Source {
    double tokens = 0;
    TimePoint updated;
  };
  Source& find(const std::string& source, TimePoint now) REQUIRES(mu_);  // refilled to now
  void make_room(TimePoint now) REQUIRES(mu_);

  const Clock& clock_;
  const Limits limits_;
  mutable Mutex mu_;
  std::unordered_map<std::string, Source> sources_ GUARDED_BY(mu_);
  LogPacer pacer_ GUARDED_BY(mu_);
};

// The address part of an "ip:port" remote (IPv6 addresses keep their colons).
std::string address_of(const std::string& remote);

}  // namespace meshfed
