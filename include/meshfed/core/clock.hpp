// Wall-clock time, injectable so that expiry and TTL logic is testable without sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace meshfed {

using TimePoint = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

// The process's one SystemClock, for parts whose clock is optional.
inline const Clock& wall_clock() {
  static const SystemClock clock;
  return clock;
}

// A clock the test moves by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : ms_(to_ms(start)) {}
  TimePoint now() const override { return TimePoint(Millis(ms_.load())); }
  void advance(Millis d) { ms_ += d.count(); }

 private:
  static int64_t to_ms(TimePoint t) { return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count(); }
  std::atomic<int64_t> ms_;
};

inline int64_t to_unix_ms(TimePoint t) { return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count(); }
inline TimePoint from_unix_ms(int64_t ms) { return TimePoint(Millis(ms)); }

}  // namespace meshfed
