#include "reactions.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "meshfed/workflow/audit_archive.hpp"

namespace meshfed::app {

void BrokerParts::notify_peers(std::vector<std::string> keys) {
  if (!peer_server) return;
  boost::asio::post(runtime.io(), [this, keys = std::move(keys)] { peer_server->notify(keys); });
}

void BrokerParts::restart_watchers() {
  lifecycle.post([this, current = snapshot.get()] {
    watchers->stop();
    if (leading()) watchers->start(*current);
  });
}

void StoreReactions::exports_changed(const std::set<std::string>& peers, const std::set<std::string>& export_ids) {
  publish_exports();
  p_.metrics_export->exports_changed();
  p_.routes->exports_changed(export_ids);
  p_.notify_peers({peers.begin(), peers.end()});
}

void StoreReactions::publish_exports() {
  if (!p_.adapter->authorizes_exports() || !p_.leading()) return;
  std::vector<controlplane::DesiredExport> out;
  const auto inv = p_.adapter->inventory();
  const auto listed = p_.workflow->for_each_approved([&](const store::ExportRecord& e) {
    const auto* svc = inv->find(e.mesh, e.service, e.zone);
    out.push_back({e.id, e.mesh, e.service, e.zone, e.port, svc && svc->from_dataplanes});
  });
  if (listed) {
    p_.adapter->set_exports(std::move(out));
  } else {
    p_.broker_metrics->store_error("exports");
  }
}

void StoreReactions::reconcile_imports() {
  if (auto st = p_.imports->reconcile(); !st) spdlog::error("imports: {}", st.error().message);
}

void StoreReactions::archive_audit() {
  if (auto st = p_.witness_book->prune(); !st) {
    p_.broker_metrics->store_error("witness_prune");
    spdlog::error("audit witness: cannot drop heads past retention.witness_days: {}", st.error().message);
  }
  const auto& cfg = p_.snapshot.get()->config;
  if (cfg.retention.audit_days == 0) return;
  const workflow::AuditArchiveSettings settings{cfg.retention.archive_dir_in(cfg.state_dir), cfg.retention.audit_days};
  if (auto made = workflow::archive_audit(*p_.db, p_.clock.now(), settings); !made) {
    p_.broker_metrics->store_error("audit_archive");
    spdlog::error("audit: cannot archive entries older than {} days: {}", settings.days, made.error().message);
  }
}

void StoreReactions::peer_changed(const std::string& peer) {
  p_.routes->changed();
  p_.watchers->wake(peer);
  p_.notify_peers({peer});
}

federation::ExportedMetricsByPeer StoreReactions::exported_metrics_by_peer() {
  federation::ExportedMetricsByPeer out;
  p_.store.run([&] {
    auto selections = p_.workflow->metric_selections();
    if (!selections) return p_.broker_metrics->store_error("exports");
    for (auto& m : *selections) out[m.peer].push_back({m.service, m.alias, std::move(m.metrics)});
  });
  return out;
}

std::set<std::string> StoreReactions::live_aliases(const std::string& peer) {
  std::set<std::string> aliases;
  p_.store.run([&] {
    if (auto a = p_.imports->live_aliases(peer)) {
      aliases = std::move(a).value();
    } else {
      p_.broker_metrics->store_error("metrics");
    }
  });
  return aliases;
}

}  // namespace meshfed::app
