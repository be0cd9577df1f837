// How a broker on PostgreSQL reacts to leadership and to other replicas' commits, on the store
// thread, and how it lists the domain's replicas. With one broker on SQLite only the list is
// used: it names this broker, without writing.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "meshfed/api/admin_api.hpp"
#include "parts.hpp"
#include "reactions.hpp"
#include "reload.hpp"

namespace meshfed::app {

class ReplicaReactions final : public api::ReplicaDirectory {
 public:
  ReplicaReactions(BrokerParts& parts, StoreReactions& reactions, Reloader& reloader)
      : p_(parts), reactions_(reactions), reloader_(reloader) {}

  // This replica now leads under `term`: the control plane gets the desired state before writes
  // are turned on (a follower's is empty and would withdraw everything), then the watchers
  // start. Writes stay fenced by the term: if it ends while this runs, none of them goes.
  void elected(int64_t term);
  // (The control plane's writes were turned off on the leadership thread already.)
  void deposed();
  // Another replica committed (any thread): what this one derives from the shared state is
  // brought up to date on the store thread as if the commit had been its own. Coalesced: one
  // run answers every commit before it.
  void others_committed();
  // Lists this replica as alive (every few seconds, replicas only).
  void heartbeat();

  Result<std::vector<store::ReplicaRecord>> replicas() override;

 private:
  void catch_up();
  store::ReplicaRecord self() const;

  BrokerParts& p_;
  StoreReactions& reactions_;
  Reloader& reloader_;
  std::atomic<bool> catch_up_pending_{false};
};

}  // namespace meshfed::app
