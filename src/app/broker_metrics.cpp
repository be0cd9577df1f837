#include "broker_metrics.hpp"

#include <algorithm>

#include "meshfed/peering/peer_list.hpp"

namespace meshfed::app {

BrokerMetrics::BrokerMetrics(metrics::Registry& registry, workflow::ExportWorkflow& workflow,
                             federation::ImportManager& imports, controlplane::Adapter& adapter,
                             const PublishedSnapshot& snapshot, peering::Peerings& peerings)
    : registry_(registry), workflow_(workflow), imports_(imports), adapter_(adapter), snapshot_(snapshot),
      peerings_(peerings),
      store_errors_(registry.counter("meshfed_store_errors_total", "Failed store operations by operation.", {"op"})),
      reloads_(registry.counter("meshfed_config_reloads_total", "Config reloads by result.", {"result"})) {
  registry.gauge("meshfed_build_info", "Build information; always 1.", {"version", "domain"})
      .set({MESHFED_VERSION, snapshot.get()->config.domain}, 1);
  auto& arrival = registry.histogram("meshfed_import_approval_latency_seconds",
                                     "From the peer's approval of an export to our first sight of it.", {"peer"},
                                     {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300});
  imports_.set_arrival_listener([&arrival](const std::string& peer, int64_t ms) {
    arrival.observe({peer}, static_cast<double>(std::max<int64_t>(ms, 0)) / 1000.0);
  });
  collect_peers_and_imports();
  collect_control_plane_events();
  collect_exports_and_certificates();
}

void BrokerMetrics::collect_peers_and_imports() {
  auto& state = registry_.gauge("meshfed_peer_state", "1 for each peer's current state.", {"peer", "state"});
  auto& revision = registry_.gauge("meshfed_peer_revision", "The peer's catalog revision we applied.", {"peer"});
  auto& success = registry_.gauge("meshfed_peer_last_success_timestamp_seconds",
                                  "Unix time of the last successful sync with the peer.", {"peer"});
  auto& imports = registry_.gauge("meshfed_imports", "Imports by peer and state.", {"peer", "state"});
  auto& by_state = registry_.gauge("meshfed_peers",
                                   "Peers by state: proposed and waiting for the peer (added through the API), or "
                                   "their sync state.",
                                   {"state"});
  registry_.on_collect([this, &state, &revision, &success, &imports, &by_state] {
    state.clear();
    revision.clear();
    success.clear();
    imports.clear();
    by_state.clear();
    auto peers = imports_.peers();
    if (!peers) return store_error("metrics");
    auto peerings = peerings_.list();
    if (!peerings) return store_error("metrics");
    std::map<std::string, double> counted = {{std::string(peering::kProposed), 0},
                                             {std::string(peering::kWaitingForThePeer), 0}};
    for (const auto st : federation::kPeerStates) counted[std::string(federation::to_string(st))] = 0;
    for (const auto& e : peering::peer_list(*peers, *peerings)) ++counted[e.state];
    for (const auto& [s, n] : counted) by_state.set({s}, n);
    for (const auto& p : *peers) {
      const std::string& d = p.record.domain;
      for (const auto st : federation::kPeerStates)
        state.set({d, std::string(federation::to_string(st))}, st == p.state ? 1 : 0);
      revision.set({d}, static_cast<double>(p.record.revision));
      if (p.record.last_success_ms) success.set({d}, static_cast<double>(*p.record.last_success_ms) / 1000.0);
      for (const auto& [st, n] : p.imports) imports.set({d, st}, static_cast<double>(n));
    }
  });
}

void BrokerMetrics::collect_control_plane_events() {
  auto& events = registry_.counter("meshfed_controlplane_events_total",
                                   "Control-plane adapter events by kind: reconcile runs, resources created, "
                                   "drift repaired, deleted, name clashes, errors by kind.",
                                   {"event"});
  registry_.on_collect([this, &events] {
    // The adapter counts since start; the counter moves by what is new since the last scrape.
    MutexLock lock(cp_events_mu_);
    for (const auto& [event, n] : adapter_.health().events) {
      if (n > cp_events_seen_[event]) events.inc({event}, static_cast<double>(n - cp_events_seen_[event]));
      cp_events_seen_[event] = n;
    }
  });
}

void BrokerMetrics::collect_exports_and_certificates() {
  auto& exports = registry_.gauge("meshfed_exports", "Exports by state.", {"state"});
  auto& missing = registry_.gauge("meshfed_exports_target_missing",
                                  "Approved exports whose service or port is not in the inventory.");
  auto& by_peer = registry_.gauge("meshfed_exports_by_peer", "Exports by the peer they are scoped to and state.",
                                  {"peer", "state"});
  auto& head = registry_.gauge("meshfed_audit_head_seq", "Sequence number of the newest audit entry.");
  auto& inv_errors = registry_.gauge("meshfed_inventory_errors", "Failed inventory loads since start.");
  auto& inv_ok = registry_.gauge("meshfed_inventory_valid", "1 if the current inventory source is valid, else 0.");
  auto& cert = registry_.gauge("meshfed_certificate_expiry_timestamp_seconds",
                               "Expiry (Unix time) of each certificate in use: ours by role (broker, ingress, "
                               "egress, ca), and each peer's CA (role peer_ca).",
                               {"role", "peer"});
  registry_.on_collect([this, &exports, &missing, &by_peer, &head, &inv_errors, &inv_ok, &cert] {
    exports.clear();
    for (const std::string s : {"pending", "approved", "rejected", "cancelled", "revoked", "expired"})
      exports.set({s}, 0);
    if (auto n = workflow_.count_target_missing()) {
      missing.set({}, static_cast<double>(*n));
    } else {
      store_error("exports");
    }
    if (auto counts = workflow_.count_by_state()) {
      for (const auto& [state, n] : *counts) exports.set({state}, static_cast<double>(n));
    } else {
      store_error("metrics");
    }
    by_peer.clear();
    if (auto counts = workflow_.count_by_peer_and_state()) {
      for (const auto& [key, n] : *counts) by_peer.set({key.first, key.second}, static_cast<double>(n));
    } else {
      store_error("metrics");
    }
    if (auto h = workflow_.audit_head()) head.set({}, static_cast<double>(h->first));
    const auto health = adapter_.health();
    inv_errors.set({}, static_cast<double>(health.inventory_errors));
    inv_ok.set({}, health.ready && health.detail.find("invalid") == std::string::npos ? 1 : 0);
    const auto s = snapshot_.get();
    cert.clear();  // a peer removed on reload takes its CA with it
    cert.set({"broker", ""}, static_cast<double>(s->expiries.broker));
    cert.set({"ca", ""}, static_cast<double>(s->expiries.ca));
    for (const auto& [peer, expiry] : s->expiries.peer_ca) cert.set({"peer_ca", peer}, static_cast<double>(expiry));
    if (s->gateways.ingress) cert.set({"ingress", ""}, static_cast<double>(s->gateways.ingress_cert_expiry));
    if (!s->gateways.egress.empty()) cert.set({"egress", ""}, static_cast<double>(s->gateways.egress_cert_expiry));
  });
}

}  // namespace meshfed::app
