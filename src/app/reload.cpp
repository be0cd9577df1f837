#include "reload.hpp"

#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "meshfed/peering/peerings.hpp"
#include "meshfed/store/peering_repository.hpp"

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
  auto peerings = read_peerings();
  if (!peerings) return reject(peerings.error().message);
  auto entries = peering::peer_entries(*peerings, ca_dir());
  if (!entries) return reject(entries.error().message);
  auto fresh = config::load_config(running->config.file, *entries);
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
  applied_ = active(*peerings);
  p_.broker_metrics->reload("applied");
  (void)p_.workflow->record_event(workflow::kSystemActor, "config.reloaded", "config/" + p_.domain(),
                                  {{"restart_required_for", ignored}});
  spdlog::info("reload applied");
}

Status Reloader::add_peerings_at_start() {
  MESHFED_ASSIGN_OR_RETURN(auto peerings, read_peerings());
  MESHFED_ASSIGN_OR_RETURN(auto next, with_peerings(p_.first_config(), peerings, ca_dir()));
  p_.snapshot.publish(std::move(next));
  applied_ = active(peerings);
  if (!applied_.empty()) spdlog::info("{} peers added through the API", applied_.size());
  return {};
}

void Reloader::peerings_changed() {
  auto peerings = read_peerings();
  if (!peerings) {
    spdlog::error("peering: cannot read the peers added through the API: {}", peerings.error().message);
    return;
  }
  if (active(*peerings) == applied_) return;
  auto next = with_peerings(p_.snapshot.get()->config, *peerings, ca_dir());
  if (!next) {
    // approve() asked the same question inside its transaction: this is a file or CA gone bad since.
    spdlog::error("peering: the peers added through the API cannot be applied, keeping those in force: {}",
                  config::format_errors(next.error()));
    p_.broker_metrics->reload("rejected");
    return;
  }
  p_.snapshot.publish(*next);
  apply(**next);
  applied_ = active(*peerings);
  spdlog::info("peering: {} peers added through the API in force", applied_.size());
}

Status Reloader::accepts(const std::vector<store::PeeringRecord>& peerings) {
  // The CA files go to a scratch folder: a refused approval leaves the ones in force as they are.
  const auto scratch = p_.first_config().state_dir / "peerings.check";
  auto next = with_peerings(p_.snapshot.get()->config, peerings, scratch);
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  if (next) return {};
  return make_error(ErrorCode::kFailedPrecondition,
                    "the config cannot take this peer: " + config::format_errors(next.error()), next.error().fields);
}

Result<std::shared_ptr<const Snapshot>> Reloader::with_peerings(const config::Config& file,
                                                                const std::vector<store::PeeringRecord>& peerings,
                                                                const std::filesystem::path& ca_dir) {
  MESHFED_ASSIGN_OR_RETURN(auto entries, peering::peer_entries(peerings, ca_dir));
  MESHFED_ASSIGN_OR_RETURN(auto cfg, config::with_api_peers(file, entries));
  return load_snapshot(keep_restart_only(file, std::move(cfg)));
}

Result<std::vector<store::PeeringRecord>> Reloader::read_peerings() {
  return store::read_value(*p_.db, [](store::Reader& tx) { return store::PeeringQueries(tx).list(); });
}

Reloader::Applied Reloader::active(const std::vector<store::PeeringRecord>& peerings) {
  Applied out;
  for (const auto& p : peerings) {
    if (p.state != store::PeeringState::kActive) continue;
    out[p.domain] = p.bundle + "|" + p.import_policy + "|" + std::to_string(p.max_exports) + "|" +
                    (p.max_egress_ports ? std::to_string(*p.max_egress_ports) : "");
  }
  return out;
}

void Reloader::apply(const Snapshot& s) {
  if (p_.ingress_gw) p_.ingress_gw->set_tls(s.gateways.ingress, s.gateways.ingress_callers);
  if (p_.egress_gw) p_.egress_gw->set_tls(s.gateways.egress, s.gateways.egress_servers);
  p_.adapter->reconfigure(s.config.control_plane, s.kuma_token);
  (void)p_.adapter->refresh_inventory(true);
  p_.workflow->update_settings(s.workflow_settings());
  if (auto st = p_.imports->update_settings(s.import_settings()); !st) {
    spdlog::error("reload: imports: {}", st.error().message);
  }
  p_.metrics_export->reconfigure(federation::metrics_export_settings(s.config));
  p_.metrics_import->reconfigure(s.metrics_import_settings());
  p_.routes->changed_now();  // a removed peer's connections end now, not at the next tick
  if (p_.catalog) {
    std::set<std::string> peers;
    for (const auto& peer : s.config.peers) peers.insert(peer.domain);
    p_.catalog->keep_answers_only_for(peers);  // a removed peer's kept snapshot goes with it
  }
  if (p_.peer_server) p_.peer_server->revalidate_peers();  // what a removed or replaced CA admitted ends
  p_.restart_watchers();
}

}  // namespace meshfed::app
