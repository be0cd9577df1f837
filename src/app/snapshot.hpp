// Everything SIGHUP swaps, loaded and checked in one function and published whole: a reader
// holds one `shared_ptr<const Snapshot>` and sees one consistent generation of config, tokens,
// TLS contexts, peer trust, gateway TLS and certificate expiries, never half of a reload.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "meshfed/api/admin_api.hpp"
#include "meshfed/api/auth.hpp"
#include "meshfed/config/config.hpp"
#include "meshfed/core/cidr.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/federation/metrics_import.hpp"
#include "meshfed/gateway/gateway.hpp"
#include "meshfed/routing/route_builder.hpp"
#include "meshfed/http/tls.hpp"
#include "meshfed/pki/peer_trust.hpp"
#include "meshfed/pki/signing.hpp"
#include "meshfed/workflow/export_workflow.hpp"

namespace meshfed::app {

struct CertificateExpiries {
  int64_t broker = 0;
  int64_t ca = 0;
  std::map<std::string, int64_t> peer_ca;  // the first certificate of each peer's CA bundle
};

struct Snapshot {
  config::Config config;
  std::shared_ptr<const api::TokenStore> tokens;
  std::shared_ptr<http::TlsContext> admin_tls;
  std::shared_ptr<const pki::PeerTrust> peer_trust;  // callers of the peer API: peers' brokers
  std::shared_ptr<http::TlsContext> peer_tls;
  CertificateExpiries expiries;
  std::set<std::string> peer_domains;
  std::vector<gateway::ApiPeer> api_peers;  // the peers added through the admin API, with their CAs
  std::vector<Cidr> peer_sources;           // every peer's source_cidrs; empty: the peer API admits any source
  gateway::GatewayTls gateways;
  std::string kuma_token;  // control_plane.token_file's content
  std::string store_url;   // store.url_file's content (postgres): a secret, never logged
  // gateways.ingress.advertise; port 0 stands for the port the in-process ingress bound.
  std::optional<config::Endpoint> ingress_advertised;
  // The broker key (tls.key_file): it signs our audit head and countersigns what we witness.
  std::shared_ptr<const pki::Signer> signer;

  // What each part is configured with, derived from this generation.
  workflow::WorkflowSettings workflow_settings() const;
  federation::ImportSettings import_settings() const;
  federation::MetricsImportSettings metrics_import_settings() const;
  routing::RouteInputs route_inputs() const;
  bool source_admitted(const std::string& address) const;
};

// Loads every file `config` names (tokens, certificates, peer CAs, gateway TLS, the Kuma token).
Result<std::shared_ptr<const Snapshot>> load_snapshot(config::Config config);

// A static control plane's inventory file, read and parsed (check-config and reload refuse a
// broken one; at start it is reported by /readyz instead).
Status check_static_inventory(const config::Config& config);

// Settings that only take effect at restart: their names where `fresh` differs from `running`,
// and `fresh` with the running values put back, so that what runs and what is reported agree.
std::vector<std::string> restart_only_changes(const config::Config& running, const config::Config& fresh);
config::Config keep_restart_only(const config::Config& running, config::Config fresh);

// The current generation: replaced whole on reload, read from any thread. Its tokens are who
// may call the admin API.
class PublishedSnapshot final : public api::Credentials {
 public:
  explicit PublishedSnapshot(std::shared_ptr<const Snapshot> first) : current_(std::move(first)) {}
  std::shared_ptr<const Snapshot> get() const { return current_.load(); }
  void publish(std::shared_ptr<const Snapshot> next) { current_.store(std::move(next)); }
  std::shared_ptr<const api::TokenStore> tokens() const override { return get()->tokens; }

 private:
  std::atomic<std::shared_ptr<const Snapshot>> current_;
};

}  // namespace meshfed::app
