// The broker's own gauges and counters on /metrics: build, exports by state and peer, audit
// head, inventory, certificate expiries, peers and imports, control-plane events. Collected
// when scraped (on the store thread, where /metrics is answered), from the parts that own the
// numbers.
#pragma once

#include <map>
#include <string>

#include "meshfed/core/mutex.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/metrics/registry.hpp"
#include "meshfed/peering/peerings.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "snapshot.hpp"

namespace meshfed::app {

class BrokerMetrics {
 public:
  BrokerMetrics(metrics::Registry& registry, workflow::ExportWorkflow& workflow, federation::ImportManager& imports,
                controlplane::Adapter& adapter, const PublishedSnapshot& snapshot, peering::Peerings& peerings);

  // Failed store operations, by the operation: what the log says in words, counted.
  void store_error(const std::string& op) { store_errors_.inc({op}); }
  void reload(const std::string& result) { reloads_.inc({result}); }

 private:
  void collect_peers_and_imports();
  void collect_control_plane_events();
  void collect_exports_and_certificates();

  metrics::Registry& registry_;
  workflow::ExportWorkflow& workflow_;
  federation::ImportManager& imports_;
  controlplane::Adapter& adapter_;
  const PublishedSnapshot& snapshot_;
  peering::Peerings& peerings_;
  metrics::Family& store_errors_;
  metrics::Family& reloads_;
  Mutex cp_events_mu_;
  std::map<std::string, int64_t> cp_events_seen_ GUARDED_BY(cp_events_mu_);  // adapter event counts already exposed
};

}  // namespace meshfed::app
