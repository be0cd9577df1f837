// A background thread running rounds of work whose settings can be replaced while it runs (on
// SIGHUP): it sleeps until its next round, a wake(), new settings or stop(), and never loses a
// wake-up that arrives while a round is running. The one loop helper of the broker's
// background threads: the Kuma adapter, the metrics loops, and (as a BackgroundLoop, without
// settings) the peer and route watchers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include "meshfed/core/mutex.hpp"

namespace meshfed {

template <typename Settings>
class SettingsLoop {
 public:
  SettingsLoop() = default;
  explicit SettingsLoop(Settings settings) : settings_(std::move(settings)) {}
  ~SettingsLoop() { stop(); }
  SettingsLoop(const SettingsLoop&) = delete;
  SettingsLoop& operator=(const SettingsLoop&) = delete;

  // Starts the loop's thread once; later calls do nothing.
  void start(std::function<void()> run) {
    if (!thread_.joinable()) thread_ = std::thread(std::move(run));
  }

  // `interrupt` runs after the stop is flagged, to break off a blocking call of the loop.
  void stop(const std::function<void()>& interrupt = nullptr) {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    if (interrupt) interrupt();
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void reconfigure(Settings settings) {
    {
      MutexLock lock(mu_);
      settings_ = std::move(settings);
      ++generation_;
    }
    cv_.notify_all();
  }

  void wake() {
    {
      MutexLock lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }

  Settings settings() const {
    MutexLock lock(mu_);
    return settings_;
  }

  bool stopping() const {
    MutexLock lock(mu_);
    return stopping_;
  }

  // For the loop, at the start of each round: false once stopping. When the settings changed
  // since the last round, copies them into `current` and sets `changed`.
  bool next_round(Settings& current, bool& changed) {
    MutexLock lock(mu_);
    if (stopping_) return false;
    changed = generation_ != seen_;
    if (changed) {
      current = settings_;
      seen_ = generation_;
    }
    return true;
  }

  // The same for a loop without settings (a BackgroundLoop).
  bool next_round() requires std::is_same_v<Settings, std::monostate> {
    MutexLock lock(mu_);
    seen_ = generation_;
    return !stopping_;
  }

  // Sleeps until `until`, wake(), reconfigure() or stop(); true if a wake() came meanwhile.
  bool sleep_until(std::chrono::steady_clock::time_point until) {
    MutexLock lock(mu_);
    while (!has_news() && cv_.wait_until(mu_, until)) {
    }
    return std::exchange(woken_, false);
  }

  bool sleep_for(std::chrono::steady_clock::duration d) { return sleep_until(std::chrono::steady_clock::now() + d); }

  // Whether a sleep would return at once: a wake, new settings not yet taken, or a stop.
  bool pending() const {
    MutexLock lock(mu_);
    return has_news();
  }

 private:
  bool has_news() const REQUIRES(mu_) { return stopping_ || woken_ || generation_ != seen_; }

  mutable Mutex mu_;
  CondVar cv_;
  Settings settings_ GUARDED_BY(mu_);
  uint64_t generation_ GUARDED_BY(mu_) = 1;
  uint64_t seen_ GUARDED_BY(mu_) = 0;  // the first round always takes the settings
  bool woken_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// A loop whose only inputs are wake() and stop().
using BackgroundLoop = SettingsLoop<std::monostate>;

}  // namespace meshfed
