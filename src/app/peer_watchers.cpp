#include "peer_watchers.hpp"

namespace meshfed::app {

PeerWatchers::PeerWatchers(federation::ImportManager& imports, federation::WitnessBook& witness, SerialExecutor& store,
                           metrics::Registry& registry)
    : imports_(imports), witness_(witness), store_(store),
      sync_errors_(registry.counter("meshfed_peer_sync_errors_total",
                                    "Failed catalog syncs with each peer, by reason: unreachable, http_status, "
                                    "rejected_catalog.",
                                    {"peer", "reason"})),
      catalog_refusals_(registry.counter("meshfed_peer_catalog_refusals_total",
                                         "Catalog answers refused whole, by peer and reason: json, size, depth, "
                                         "domain, field, count, ingress, audit_head.",
                                         {"peer", "reason"})) {}

void PeerWatchers::start(const Snapshot& snapshot) {
  const auto& cfg = snapshot.config;
  MutexLock lock(mu_);
  for (const auto& p : cfg.peers) {
    federation::WatcherOptions o;
    o.peer = p.domain;
    o.url = p.url;
    o.trust = snapshot.peer_trust;
    o.tls = cfg.tls;
    o.wait = cfg.sync.wait;
    o.trust_domain = p.trust_domain;
    o.max_exports = p.max_exports;
    o.ingress_cidrs = p.ingress_cidrs;
    o.sync_errors = &sync_errors_;
    o.catalog_refusals = &catalog_refusals_;
    o.witness = &witness_;
    auto w = std::make_unique<federation::PeerWatcher>(o, imports_, store_);
    w->start();
    watchers_[p.domain] = std::move(w);
  }
}

void PeerWatchers::stop() {
  std::map<std::string, std::unique_ptr<federation::PeerWatcher>> old;
  {
    MutexLock lock(mu_);
    old.swap(watchers_);
  }
  for (auto& [peer, w] : old) w->stop();  // outside the lock: wake() must not wait for a join
}

void PeerWatchers::wake(const std::string& peer) {
  MutexLock lock(mu_);
  if (auto it = watchers_.find(peer); it != watchers_.end()) it->second->wake();
}

}  // namespace meshfed::app
