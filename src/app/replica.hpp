// What makes a broker one replica among several sharing a PostgreSQL store: whether it leads
// (Leadership) and when another replica committed (OtherReplicasCommits). Each runs on a thread
// of its own, so that neither the event loop nor the store thread ever waits on them.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "meshfed/core/clock.hpp"
#include "meshfed/core/mutex.hpp"
#include "meshfed/core/settings_loop.hpp"
#include "meshfed/store/replication.hpp"

namespace meshfed::app {

// A follower tries to take the leader lock every round; a leader confirms it every round and
// steps down at the first confirmation that fails, or when it has gone kLease without one (its
// thread did not get to run), which is well before the server ends a silent leader's session
// and lets another replica in. Each election is a term (LeaderLock). Work that must run once
// per domain asks in_term() (any thread) before each step; what it writes is fenced: leader-only
// store writes check term() in their transaction, control-plane writes ask may_write() before
// each call. Events run on the leadership thread.
class Leadership {
 public:
  static constexpr auto kRound = std::chrono::milliseconds(500);
  static constexpr auto kCallTimeout = std::chrono::seconds(1);
  static constexpr auto kLease = std::chrono::seconds(4);
  // A control-plane write leaves this much of the lease for its way to the control plane.
  static constexpr auto kWriteMargin = std::chrono::seconds(1);
  static_assert(kLease + kCallTimeout < store::LeaderLock::kLeaderSessionIdle);

  struct Events {
    std::function<void(int64_t term)> elected;
    std::function<void()> deposed;
  };

  Leadership(std::unique_ptr<store::LeaderLock> lock, const Clock& clock, Events events);
  ~Leadership() { stop(); }

  void start();
  // Ends the rounds and gives the lock up (a stopping leader hands over at once).
  void stop();
  // One round, as the thread runs it every kRound (tests call it by hand).
  void round();
  // Elected, not deposed, and confirmed within the last kLease.
  bool leading() const;
  // The term this replica leads under while its lease runs; nothing otherwise.
  std::optional<int64_t> term() const;
  // Whether `term` is this replica's and not over, whether or not its lease runs right now (a
  // lapse between confirmations does not end a term; a failed confirmation does).
  bool holds(int64_t term) const { return leader_ && term_ == term; }
  // Whether this replica holds a term at all, in the same sense.
  bool in_term() const { return leader_; }
  // Whether a control-plane write of `term` may be sent now: the term still leads here with
  // kWriteMargin of its lease left, and it began at least kLease ago. A replica deposed without
  // knowing it (the server ended its session) writes at most until its lease runs out, so the
  // next term's first write comes after the last of the one before.
  bool may_write(int64_t term) const;
  // Asks the store, within kCallTimeout, whether `term` is still current (before a write round).
  Status confirm_term(int64_t term);

 private:
  // The lock's session is one connection: one call at a time.
  std::unique_ptr<store::LeaderLock> lock_ PT_GUARDED_BY(call_mu_);
  const Clock& clock_;
  Events events_;
  std::atomic<bool> leader_{false};
  std::atomic<int64_t> term_{0};
  std::atomic<int64_t> elected_at_ms_{0};
  std::atomic<int64_t> confirmed_at_ms_{0};
  Mutex call_mu_;
  Mutex stop_mu_;
  bool stopped_ GUARDED_BY(stop_mu_) = false;
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
