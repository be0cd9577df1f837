// What the broker does when its state changes, on the store thread: exports published to the
// control plane and their routes to the ingress before peers are woken, imports reconciled,
// peers' long-polls and watchers told of a quarantine, old audit entries archived; and the
// questions other threads ask of the store (the metrics exporter's and importer's).
#pragma once

#include <set>
#include <string>

#include "meshfed/api/admin_api.hpp"
#include "meshfed/federation/metrics_export.hpp"
#include "parts.hpp"

namespace meshfed::app {

class StoreReactions final : public api::PeerSignals {
 public:
  explicit StoreReactions(BrokerParts& parts) : p_(parts) {}

  // After a commit that changed exports: an in-process ingress gets their routes first, so that
  // no peer hears of an export before our ingress admits it; then the peers whose catalog view
  // changed are woken.
  void exports_changed(const std::set<std::string>& peers, const std::set<std::string>& export_ids);
  // Control planes that authorise exports (Kuma) get every approved export (the leader only).
  void publish_exports();
  void reconcile_imports();
  // Audit entries past their retention go to archive segments, witnessed heads past theirs are
  // dropped (the leader only).
  void archive_audit();
  // After a quarantine or release: our watcher of that peer and the peer's own long-polls on
  // our peer API react at once (a waiting long-poll re-evaluates and is refused).
  void peer_changed(const std::string& peer) override;

  // What each peer's metrics selection starts from: its unexpired approved exports that name
  // metrics (the exporter's thread). Only those are read: with 100,000 exports a walk over all
  // of them held the store thread (and with it every peer's long-poll) for 150 ms at each change.
  federation::ExportedMetricsByPeer exported_metrics_by_peer();
  // The aliases of our live imports from `peer` (the metrics importer's thread).
  std::set<std::string> live_aliases(const std::string& peer);

 private:
  BrokerParts& p_;
};

}  // namespace meshfed::app
