// Every peer of the domain as GET /api/v1/peers and meshfed_peers{state} show it: those in
// force (from the config file or added through the API) with their sync state, and those
// proposed and waiting for a second admin.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshfed/federation/imports.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::peering {

// An API peer approved here that has not answered yet: most often because its admins have not
// approved this domain's bundle (mutual TLS needs both CAs).
inline constexpr std::string_view kWaitingForThePeer = "waiting for the peer";
inline constexpr std::string_view kProposed = "proposed";

struct PeerEntry {
  std::string domain;
  std::string source;                            // config | api
  std::string state;                             // proposed, waiting for the peer, or a federation::PeerState
  std::optional<federation::PeerStatus> status;  // peers in force
  std::optional<store::PeeringRecord> peering;   // peers added through the API
};

// Sorted by domain. A peer in force is the API's when an active peering names it, the file's
// otherwise.
std::vector<PeerEntry> peer_list(const std::vector<federation::PeerStatus>& in_force,
                                 const std::vector<store::PeeringRecord>& peerings);

}  // namespace meshfed::peering
