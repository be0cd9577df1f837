// What the replicas of a domain that share one PostgreSQL database need beyond the store
// itself: who leads (a session advisory lock) and when another replica committed (LISTEN/NOTIFY).
// Each holds a connection of its own and bounds every wait, so that a silent server or network
// is noticed in about a second rather than when the kernel gives up on the socket.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "meshfed/core/result.hpp"

namespace meshfed::store {

// The lock whose holder is the domain's leader. The server releases it when the holder's
// session ends (a crash closes the socket; a replica cut off is ended by the server after
// kLeaderSessionIdle without a confirmation). Whoever takes it begins a new term: the next
// number in `leader_terms`, written under the store's write lock (no write transaction is
// half-way through its term check meanwhile) by the session that holds the lock (no two
// replicas ever begin a term at once).
class LeaderLock {
 public:
  static constexpr auto kLeaderSessionIdle = std::chrono::seconds(10);
  static constexpr int64_t kTermsKept = 1000;

  virtual ~LeaderLock() = default;
  // Takes the lock if no session holds it: the term this replica now leads under, nothing when
  // another replica leads, an error when the store did not answer within `timeout`.
  virtual Result<std::optional<int64_t>> try_acquire(std::chrono::milliseconds timeout) = 0;
  // Whether this session still holds the lock, answered within `timeout` (an error otherwise):
  // the store's current term.
  virtual Result<int64_t> confirm(std::chrono::milliseconds timeout) = 0;
  // Gives the lock up by ending the session; the next try_acquire() opens a new one.
  virtual void release() = 0;
};

// `replica`: this broker's replica_id, recorded with each term it begins.
std::unique_ptr<LeaderLock> postgres_leader_lock(std::string conninfo, std::string replica);

// Commits made by other replicas (each write transaction announces itself on commit).
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // Waits up to `timeout`: true when other replicas committed since the last call (all that
  // arrived are taken at once), false when none did; an error when the connection is lost. The
  // next call reconnects and then answers true, since commits may have been missed meanwhile.
  virtual Result<bool> wait(std::chrono::milliseconds timeout) = 0;
};

std::unique_ptr<ChangeFeed> postgres_change_feed(std::string conninfo);

}  // namespace meshfed::store
