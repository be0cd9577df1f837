#include "reload.hpp"

#include <set>
#include <string>

#include <spdlog/spdlog.h>

namespace meshfed::app {

void Reloader::reload() {
  const auto running = p_.snapshot.get();
  spdlog::info("reloading {}", running->config.file.string());
  auto reject = [&](const std::string& why) {
    spdlog::error("reload rejected, keeping the running config: {}", why);
    p_.broker_metrics->reload("rejected");
    (void)p_.workflow->record_event(workflow::kSystemActor, "config.reload_rejected", "config/" + p_.domain(),
                                    {{"error", why}});
  };
  auto fresh = config::load_config(running->config.file);
  if (!fresh) return reject(config::format_errors(fresh.error()));
  if (fresh->control_plane.type != running->config.control_plane.type)
    return reject("control_plane.type changes only at restart");
  if (auto st = check_static_inventory(*fresh); !st) return reject(st.error().message);
  const auto ignored = restart_only_changes(running->config, *fresh);
  auto next = load_snapshot(keep_restart_only(running->config, std::move(fresh).value()));
  if (!next) return reject(config::format_errors(next.error()));
  for (const auto& key : ignored) spdlog::warn("reload: {} changed; it takes effect only at restart", key);
  p_.snapshot.publish(*next);
  apply(**next);
  p_.broker_metrics->reload("applied");
  (void)p_.workflow->record_event(workflow::kSystemActor, "config.reloaded", "config/" + p_.domain(),
                                  {{"restart_required_for", ignored}});
  spdlog::info("reload applied");
}

void Reloader::apply(const Snapshot& s) {
  if (p_.ingress_gw) p_.ingress_gw->set_tls(s.gateways.ingress, s.gateways.ingress_callers);
  if (p_.egress_gw) p_.egress_gw->set_tls(s.gateways.egress);
  p_.adapter->reconfigure(s.config.control_plane, s.kuma_token);
  (void)p_.adapter->refresh_inventory(true);
  p_.workflow->update_settings(s.workflow_settings());
  if (auto st = p_.imports->update_settings(s.import_settings()); !st) {
    spdlog::error("reload: imports: {}", st.error().message);
  }
  p_.metrics_export->reconfigure(federation::metrics_export_settings(s.config));
  p_.metrics_import->reconfigure(s.metrics_import_settings());
  p_.routes->changed();
  if (p_.catalog) {
    std::set<std::string> peers;
    for (const auto& peer : s.config.peers) peers.insert(peer.domain);
    p_.catalog->keep_answers_only_for(peers);  // a removed peer's kept snapshot goes with it
  }
  if (p_.peer_server) p_.peer_server->revalidate_peers();  // what a removed or replaced CA admitted ends
  p_.restart_watchers();
}

}  // namespace meshfed::app
