#include "meshfed/federation/egress_ports.hpp"

namespace meshfed::federation {

Result<std::optional<int>> EgressPorts::take(const std::string& peer, std::string& why_not, const UsedPorts& used) {
  if (!settings_.range) {
    why_not = "no egress port range (gateways.egress.ports)";
    return std::optional<int>();
  }
  if (!used_) {
    MESHFED_ASSIGN_OR_RETURN(const auto in_use, used());
    used_.emplace();
    for (const auto& [port, holder] : in_use) {
      used_->ports.insert(port);
      ++used_->by_peer[holder];
    }
  }
  const auto range = *settings_.range;
  const auto share_it = settings_.shares.find(peer);
  const int64_t share = share_it == settings_.shares.end() ? 0 : share_it->second;
  auto& held = used_->by_peer[peer];
  if (held >= share) {
    why_not =
        "peer " + peer + " holds all " + std::to_string(share) + " of its egress ports (peers[].max_egress_ports)";
    return std::optional<int>();
  }
  int elsewhere = 0;
  for (int p = range.first; p <= range.last; ++p) {
    if (used_->ports.count(p)) continue;
    if (held_elsewhere(p)) {
      ++elsewhere;
      continue;
    }
    used_->ports.insert(p);
    ++held;
    return std::optional<int>(p);
  }
  why_not = "no free egress port in " + std::to_string(range.first) + "-" + std::to_string(range.last);
  if (elsewhere) why_not += " (" + std::to_string(elsewhere) + " held by other programs on this host)";
  return std::optional<int>();
}

bool EgressPorts::held_elsewhere(int port) {
  const auto refused_it = refused_until_ms_.find(port);
  if (refused_it != refused_until_ms_.end()) {
    if (refused_it->second > to_unix_ms(clock_.now())) return true;
    refused_until_ms_.erase(refused_it);
  }
  if (!settings_.bindable || settings_.bindable(port)) return false;
  refused(port);
  return true;
}

bool EgressPorts::refusals_expired() {
  const int64_t now = to_unix_ms(clock_.now());
  return std::erase_if(refused_until_ms_, [now](const auto& r) { return r.second <= now; }) > 0;
}

void EgressPorts::given(const store::ImportRecord& r) {
  if (settings_.egress_confirms && egress_seen_ && r.local_port) unconfirmed_[r.id] = *r.local_port;
}

bool EgressPorts::confirmed(const std::map<std::string, int>& listening) {
  egress_seen_ = true;
  bool any = false;
  for (const auto& [id, port] : listening) {
    const auto it = unconfirmed_.find(id);
    if (it == unconfirmed_.end() || it->second != port) continue;
    unconfirmed_.erase(it);
    any = true;
  }
  return any;
}

const controlplane::DesiredState& EgressPorts::publishable(const controlplane::DesiredState& desired) {
  if (unconfirmed_.empty()) return desired;
  std::map<std::string, int> in_store;
  for (const auto& i : desired.imports) in_store.emplace(i.id, i.local_port);
  std::erase_if(unconfirmed_, [&](const auto& u) {
    const auto it = in_store.find(u.first);
    return it == in_store.end() || it->second != u.second;
  });
  publishable_ = desired;
  std::erase_if(publishable_.imports, [&](const controlplane::DesiredImport& i) {
    const auto it = unconfirmed_.find(i.id);
    return it != unconfirmed_.end() && it->second == i.local_port;
  });
  return publishable_;
}

void EgressPorts::annotate(store::ImportRecord& r) const {
  const auto it = unconfirmed_.find(r.id);
  if (it == unconfirmed_.end() || r.local_port != it->second || r.state == store::ImportState::kWithdrawn ||
      r.state == store::ImportState::kRejected) {
    return;
  }
  r.reason = "waiting for the egress gateway to listen on port " + std::to_string(it->second);
  r.local_port.reset();
}

}  // namespace meshfed::federation
