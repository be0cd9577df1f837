// The data plane. The ingress gateway terminates mTLS from
// peers' egress gateways on one port, admits a connection only for an export approved for the
// caller (by SNI and client certificate) and proxies it as TCP to the export's target. The
// egress gateway listens once per import and originates mTLS to the exporting peer's ingress.
// Both follow a RoutingTable: routes that disappear or expire end their live connections.
//
// Each gateway runs its own event-loop threads (GatewayLimits::threads); its methods may be
// called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "meshfed/config/config.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/gateway/routes.hpp"
#include "meshfed/http/tls.hpp"
#include "meshfed/metrics/registry.hpp"
#include "meshfed/net/admission.hpp"
#include "meshfed/pki/peer_trust.hpp"

namespace meshfed::gateway {

struct GatewayLimits {
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds connect_timeout{5};  // to the upstream (target or peer ingress)
  std::chrono::seconds idle_timeout{300};   // no byte either way
  net::AdmissionLimits admission{
      .max_connections = 10000, .max_connections_per_source = 64, .max_connections_per_peer = 0};
  size_t buffer_bytes = 64 * 1024;  // per direction: what a slow reader can make us hold
  int threads = 0;                  // event-loop threads; 0: one per core

  static GatewayLimits from(const config::GatewayTuning& t) {
    GatewayLimits l;
    l.handshake_timeout = t.handshake_timeout;
    l.connect_timeout = t.connect_timeout;
    l.idle_timeout = t.idle_timeout;
    l.admission.max_connections = static_cast<int>(t.max_connections);
    l.admission.max_connections_per_source = static_cast<int>(t.max_connections_per_source);
    l.admission.max_connections_per_peer = static_cast<int>(t.max_connections_per_peer);
    l.threads = static_cast<int>(t.threads);
    return l;
  }
};

// Per-route figures of both gateways (labels: gateway "ingress" or "egress", route = export
// id at the ingress and import id at the egress, peer = the other domain).
struct GatewayMetrics {
  explicit GatewayMetrics(metrics::Registry& r);
  metrics::Family& active;
  metrics::Family& total;
  metrics::Family& bytes;       // direction "upstream" (caller to service) or "downstream"
  metrics::Family& handshakes;  // completed, by resumed "true" or "false"
  metrics::Family& handshake_failures;
  metrics::Family& refusals;  // authorisation failures and limits, before a connection is admitted
  metrics::Family& cut;       // admitted connections ended by policy: revoked, expired, idle, ...
  metrics::Family& upstream_failures;
  metrics::Family& duration;
  metrics::Family& l7_denied;  // requests refused by an export's L7 rules, by export and peer

  // A connection admitted on a route, and its end: safe from every worker thread at once.
  void admitted(const std::string& gateway, const std::string& route, const std::string& peer);
  void ended(const std::string& gateway, const std::string& route, const std::string& peer, double seconds);
};

class IngressGateway {
 public:
  explicit IngressGateway(GatewayMetrics& metrics, GatewayLimits limits = {});
  ~IngressGateway();

  Status listen(const config::Endpoint& endpoint);
  uint16_t port() const;
  // The server context (see ingress_context()) and the callers it verifies.
  void set_tls(std::shared_ptr<http::TlsContext> server, std::shared_ptr<const pki::PeerTrust> callers);
  void set_routes(std::shared_ptr<const RoutingTable> table);
  // Closes the listener, ends every connection and joins the threads.
  void stop();
  int open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class EgressGateway {
 public:
  explicit EgressGateway(GatewayMetrics& metrics, GatewayLimits limits = {});
  ~EgressGateway();

  // One client context per peer domain, and the trust they verify peers' ingresses with: when
  // it changes, a connection whose ingress it no longer verifies (a CA retired or removed) ends.
  void set_tls(std::map<std::string, std::shared_ptr<http::TlsContext>> per_peer,
               std::shared_ptr<const pki::PeerTrust> servers);
  void set_routes(std::shared_ptr<const RoutingTable> table);
  void stop();
  int open_connections() const;
  // The port each import's listener is bound to, for routes that could be opened.
  std::map<std::string, uint16_t> listening() const;
  // Told (on the gateway's control thread) when an import's port cannot be bound, once per
  // listener and reason: another program holds it, and whoever gives out ports must move the
  // import. Set before the first routes.
  using ListenRefused = std::function<void(const std::string& import_id, uint16_t port, const std::string& error)>;
  void on_listen_refused(ListenRefused listener);
  // Told (on the control thread) of the listeners opened since the last call, by import id:
  // a separate egress process passes them to its broker, which publishes those imports.
  using Listening = std::function<void(const std::map<std::string, uint16_t>& opened)>;
  void on_listening(Listening listener);
  // Routes whose listener is not open now, with why: an import that points here at nothing.
  std::map<std::string, std::string> unbound() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// TLS for the gateways, from the config's certificates and the peers' CAs.
struct GatewayTls {
  std::shared_ptr<http::TlsContext> ingress;                        // null without an ingress section
  std::shared_ptr<const pki::PeerTrust> ingress_callers;            // peers' egress identities
  std::map<std::string, std::shared_ptr<http::TlsContext>> egress;  // by peer; empty without egress
  std::shared_ptr<const pki::PeerTrust> egress_servers;             // peers' ingress identities
  int64_t ingress_cert_expiry = 0;
  int64_t egress_cert_expiry = 0;
};
// `api_peers`: peers beyond the config's (a separate gateway learns them with its routes).
Result<GatewayTls> load_gateway_tls(const config::Config& c, const std::vector<ApiPeer>& api_peers = {});

}  // namespace meshfed::gateway
