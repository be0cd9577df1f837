#include "meshfed/peering/peer_list.hpp"

#include <algorithm>
#include <map>

namespace meshfed::peering {

std::vector<PeerEntry> peer_list(const std::vector<federation::PeerStatus>& in_force,
                                 const std::vector<store::PeeringRecord>& peerings) {
  std::map<std::string, PeerEntry> by_domain;
  for (const auto& p : peerings) {
    // An active one not in force yet (a replica about to catch up) has not answered either.
    const auto state = p.state == store::PeeringState::kActive ? kWaitingForThePeer : kProposed;
    by_domain[p.domain] = {p.domain, "api", std::string(state), std::nullopt, p};
  }
  for (const auto& s : in_force) {
    auto [it, added_here] = by_domain.try_emplace(s.record.domain);
    PeerEntry& e = it->second;
    e.domain = s.record.domain;
    e.status = s;
    e.state = std::string(federation::to_string(s.state));
    const bool from_api = !added_here && e.peering->state == store::PeeringState::kActive;
    if (!from_api) {
      e.source = "config";
      e.peering.reset();
    } else if (!s.record.last_success_ms && s.state != federation::PeerState::kQuarantined) {
      e.state = std::string(kWaitingForThePeer);
    }
  }
  std::vector<PeerEntry> out;
  out.reserve(by_domain.size());
  for (auto& [domain, e] : by_domain) out.push_back(std::move(e));
  return out;
}

}  // namespace meshfed::peering
