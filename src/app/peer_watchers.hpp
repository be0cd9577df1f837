// One PeerWatcher per configured peer, replaced whole on reload. Starting and stopping them
// blocks (a stop waits for the watcher's call in flight), so the broker does it on its
// lifecycle thread, never on the event loop nor on the store thread the watchers wait on.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "meshfed/core/mutex.hpp"
#include "meshfed/core/serial_executor.hpp"
#include "meshfed/federation/peer_watcher.hpp"
#include "meshfed/federation/witness_book.hpp"
#include "meshfed/metrics/registry.hpp"
#include "snapshot.hpp"

namespace meshfed::app {

class PeerWatchers {
 public:
  PeerWatchers(federation::ImportManager& imports, federation::WitnessBook& witness, SerialExecutor& store,
               metrics::Registry& registry);
  ~PeerWatchers() { stop(); }

  void start(const Snapshot& snapshot);
  void stop();
  // A quarantine or release of `peer`: its watcher re-checks at once instead of at its pause's end.
  void wake(const std::string& peer);

 private:
  federation::ImportManager& imports_;
  federation::WitnessBook& witness_;
  SerialExecutor& store_;
  metrics::Family& sync_errors_;
  metrics::Family& catalog_refusals_;
  Mutex mu_;
  std::map<std::string, std::unique_ptr<federation::PeerWatcher>> watchers_ GUARDED_BY(mu_);
};

}  // namespace meshfed::app
