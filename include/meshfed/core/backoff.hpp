// Exponential backoff with jitter for a loop that retries a failing peer, broker or control
// plane: each failure doubles the bound up to `max`, and the wait is drawn from [bound/2, bound]
// so that clients which failed together (a peer restarted) do not come back in step.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace meshfed {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, uint64_t seed = std::random_device{}())
      : min_(std::max(min, std::chrono::milliseconds(1))), max_(std::max(max, min_)), bound_(min_), rng_(seed) {}

  // The wait after one more failure in a row.
  std::chrono::milliseconds next() {
    // Half rounded up: a 1 ms bound still waits 1 ms, never 0 (a retry loop without a pause).
    const auto wait = std::chrono::milliseconds(
        std::uniform_int_distribution<int64_t>((bound_.count() + 1) / 2, bound_.count())(rng_));
    bound_ = std::min(bound_ * 2, max_);
    return wait;
  }

  // After a success: the next failure waits about `min` again.
  void reset() { bound_ = min_; }

  std::chrono::milliseconds min() const { return min_; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds bound_;
  std::mt19937_64 rng_;
};

}  // namespace meshfed
