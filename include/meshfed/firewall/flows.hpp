// The cross-boundary flows a domain needs, and their
// rendering as an nftables table `meshfed_<domain>`. Per pair of domains only two kinds of
// flow cross: broker -> peer broker (peer API) and egress gateway -> peer ingress gateway.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshfed/config/config.hpp"
#include "meshfed/core/cidr.hpp"
#include "meshfed/core/result.hpp"

namespace meshfed::firewall {

enum class Mode { kHost, kRouter };

enum class Direction { kInbound, kOutbound };
enum class FlowKind { kPeerApi, kGateway };  // broker to broker, or egress to ingress
std::string_view to_string(Direction d);     // "inbound", "outbound"
std::string_view to_string(FlowKind k);      // "peer_api", "gateway"

struct Flow {
  Direction direction = Direction::kInbound;
  FlowKind kind = FlowKind::kPeerApi;
  std::string peer;
  std::vector<std::string> sources;       // CIDRs; empty = this host (host mode, outbound)
  std::vector<std::string> destinations;  // addresses; empty = this host (host mode, inbound)
  std::string destination_name;           // the host name that was resolved, if any
  uint16_t port = 0;
  std::string why;
};

struct FlowSet {
  std::string domain;
  std::vector<Flow> flows;
  std::vector<std::string> errors;  // parts that cannot be made without opening too much
  std::string resolved_at;          // when host names were resolved
};

// What the store knows: which peers have approved exports (they may reach our ingress), and
// the ingress addresses of the peers we import from (our egress reaches them).
struct FlowState {
  std::vector<std::string> peers_with_approved_exports;
  std::vector<std::pair<std::string, config::Endpoint>> import_ingresses;  // peer, host:port
};

// Resolves a host name or address literal to addresses.
using Resolver = std::function<Result<std::vector<std::string>>(const std::string& host)>;
using meshfed::resolve_host;

FlowSet compute_flows(const config::Config& cfg, const FlowState& state, Mode mode, const Resolver& resolve);

nlohmann::json to_json(const FlowSet& flows, Mode mode);
// A complete table for `nft -f`; fails naming the parts that could only be written as open rules.
Result<std::string> to_nftables(const FlowSet& flows, Mode mode);

std::optional<Mode> parse_mode(const std::string& s);

}  // namespace meshfed::firewall

namespace meshfed::store {
class Database;
}

namespace meshfed::firewall {
// Reads which peers have approved exports and which peer ingresses our imports use.
Result<FlowState> load_flow_state(store::Database& db);
}  // namespace meshfed::firewall
