// The gateways' routing table (docs/openapi.json): which SNI the ingress admits
// for which caller and where it forwards, and which egress listeners exist and where they lead.
// The broker computes it from the store; separately run gateways receive it as JSON.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshfed/core/result.hpp"
#include "meshfed/policy/l7.hpp"

namespace meshfed::gateway {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

// One approved export as seen by one of the peers it is scoped to.
struct IngressRoute {
  std::string sni;
  std::string export_id;
  std::string peer;  // the caller's domain
  HostPort target;
  bool proxy_protocol = false;
  int64_t expires_at_ms = 0;
  // The export's L7 rules, read per request; null: a TCP export, passed as bytes.
  std::shared_ptr<const policy::L7Rules> l7 = nullptr;
  std::string protocol = "tcp";  // with rules: "http" (HTTP/1.1), "http2" or "grpc" (h2c)
  bool operator==(const IngressRoute& o) const {
    return sni == o.sni && export_id == o.export_id && peer == o.peer && target == o.target &&
           proxy_protocol == o.proxy_protocol && expires_at_ms == o.expires_at_ms && protocol == o.protocol &&
           (l7 == o.l7 || (l7 && o.l7 && *l7 == *o.l7));
  }
};

// One active or stale import: a local listener and the peer ingress it leads to.
struct EgressRoute {
  std::string import_id;
  HostPort listen;
  std::string peer;
  std::string sni;
  HostPort ingress;
  int64_t expires_at_ms = 0;
  bool operator==(const EgressRoute&) const = default;
};

// A peer added through the broker's admin API (peering), which a gateway run as its own
// process does not find in its config file: its identity and its CAs, as the broker trusts them.
struct ApiPeer {
  std::string domain;
  std::string trust_domain;
  std::vector<std::string> ca_pem;  // one PEM block per CA certificate
  bool operator==(const ApiPeer&) const = default;
};
inline constexpr size_t kMaxApiPeers = 256;  // as many as the admin API adds
inline constexpr size_t kMaxApiPeerCas = 4;  // as a bundle carries

struct RoutingTable {
  int64_t revision = 0;
  std::vector<IngressRoute> ingress;  // sorted by (sni, peer)
  std::vector<EgressRoute> egress;    // sorted by import_id
  std::vector<ApiPeer> api_peers;     // sorted by domain

  // The route admitting `peer` to `sni`, or null.
  const IngressRoute* find_ingress(std::string_view sni, std::string_view peer) const;
  // Whether any peer may use `sni` (to tell "not yours" from "no such export").
  bool has_sni(std::string_view sni) const;
  // Restores the orders above (after building or parsing).
  void sort();
  bool same_routes(const RoutingTable& other) const {
    return ingress == other.ingress && egress == other.egress && api_peers == other.api_peers;
  }
};

nlohmann::json to_json(const RoutingTable& t);
// Parses a routes answer; names the first field that is wrong.
// At most this many {export, peer} series in one report of a separate ingress's L7 denials
// (POST /api/v1/routes/l7-denials); a table's ingress routes beyond it go in later reports.
inline constexpr size_t kMostL7SeriesPerReport = 4096;

Result<RoutingTable> parse_routes(std::string_view body);

}  // namespace meshfed::gateway
