#include "health.hpp"

#include <map>
#include <optional>

#include "meshfed/firewall/flows.hpp"

namespace meshfed::app {

api::Readiness BrokerHealth::readiness() {
  api::Readiness r;
  auto head = p_.workflow->audit_head();
  const auto& write_failure = p_.db->write_failure();
  r.checks["store"] = write_failure ? "cannot write: " + *write_failure : head ? "ok" : head.error().message;
  const auto h = p_.adapter->health();
  r.checks["inventory"] = h.detail;
  r.checks["replica"] = p_.leading() ? "leader" : "follower";
  // An import with an egress port that nothing of ours listens on (in this process), or that
  // the separate egress process has not confirmed yet.
  const auto unbound = p_.egress_gw ? p_.egress_gw->unbound() : std::map<std::string, std::string>{};
  const size_t awaiting = p_.imports->awaiting_egress();
  if (!unbound.empty()) {
    r.checks["egress"] = "import " + unbound.begin()->first + " has no listener (" + unbound.begin()->second + "), " +
                         std::to_string(unbound.size()) + " in all";
  } else if (awaiting > 0) {
    r.checks["egress"] = std::to_string(awaiting) + " imports wait for the egress gateway to listen";
  } else {
    r.checks["egress"] = "ok";
  }
  const bool stopping = p_.runtime.stopping();
  r.ready = head.ok() && !write_failure && h.ready && unbound.empty() && awaiting == 0 && !stopping;
  if (stopping) r.checks["broker"] = "stopping";
  return r;
}

std::string BrokerHealth::status_line() {
  const auto exports = p_.workflow->count_by_state();
  const auto peers = p_.imports->peers();
  if (!exports || !peers) return "store unavailable";
  int64_t connected = 0, imports_active = 0;
  for (const auto& peer : *peers) {
    connected += peer.state == federation::PeerState::kConnected;
    if (const auto it = peer.imports.find("active"); it != peer.imports.end()) imports_active += it->second;
  }
  const auto approved = exports->find("approved");
  return std::to_string(connected) + "/" + std::to_string(peers->size()) + " peers connected, " +
         std::to_string(approved == exports->end() ? 0 : approved->second) + " exports approved, " +
         std::to_string(imports_active) + " imports active";
}

Result<firewall::FlowSet> FirewallFlows::firewall_flows(firewall::Mode mode) {
  std::optional<Result<firewall::FlowState>> state;
  if (!p_.store.run([&] { state = firewall::load_flow_state(*p_.db); }))
    return make_error(ErrorCode::kUnavailable, "the broker is stopping");
  if (!*state) return state->error();
  return firewall::compute_flows(p_.snapshot.get()->config, **state, mode, firewall::resolve_host);
}

}  // namespace meshfed::app
