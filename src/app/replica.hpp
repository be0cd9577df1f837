// What makes a broker one replica among several sharing a PostgreSQL store: whether it leads
// (Leadership) and when another replica committed (OtherReplicasCommits). Each runs on a thread
// of its own, so that neither the event loop nor the store thread ever waits on them.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include "meshfed/core/clock.hpp"
#include "meshfed/core/settings_loop.hpp"
#include "meshfed/store/replication.hpp"

namespace meshfed::app {

// A follower tries to take the leader lock every round; a leader confirms it every round and
// steps down at the first confirmation that fails, or when it has gone kLease without one (its
// thread did not get to run), which is well before the server ends a silent leader's session
// and lets another replica in. Events run on the leadership thread; work that must run once per
// domain asks leading() (any thread) before each step.
class Leadership {
 public:
  static constexpr auto kRound = std::chrono::milliseconds(500);
  static constexpr auto kCallTimeout = std::chrono::seconds(1);
  static constexpr auto kLease = std::chrono::seconds(4);
  static_assert(kLease + kCallTimeout < store::LeaderLock::kLeaderSessionIdle);

  struct Events {
    std::function<void()> elected;
    std::function<void()> deposed;
  };

  Leadership(std::unique_ptr<store::LeaderLock> lock, const Clock& clock, Events events);
  ~Leadership() { stop(); }

  void start();
  // Ends the rounds and gives the lock up (a stopping leader hands over at once).
  void stop();
  // One round, as the thread runs it every kRound (tests call it by hand).
  void round();
  bool leading() const;

 private:
  std::unique_ptr<store::LeaderLock> lock_;
  const Clock& clock_;
  Events events_;
  std::atomic<bool> leader_{false};
  std::atomic<int64_t> confirmed_at_ms_{0};
  std::mutex stop_mu_;
  bool stopped_ = false;
  BackgroundLoop loop_;  // last: its thread stops before the rest goes
};

// Calls `changed` (on its own thread) after other replicas committed, and once after every
// reconnection of the feed, since commits may have been missed while it was away.
class OtherReplicasCommits {
 public:
  OtherReplicasCommits(std::unique_ptr<store::ChangeFeed> feed, std::function<void()> changed);
  ~OtherReplicasCommits() { loop_.stop(); }
  void start();

 private:
  std::unique_ptr<store::ChangeFeed> feed_;
  std::function<void()> changed_;
  BackgroundLoop loop_;
};

}  // namespace meshfed::app
