#include "snapshot.hpp"

#include "net/open_acceptor.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/pki/pki.hpp"

namespace meshfed::app {

workflow::WorkflowSettings Snapshot::workflow_settings() const {
  workflow::WorkflowSettings s;
  s.domain = config.domain;
  s.trust_domain = config.trust_domain;
  s.peers = peer_domains;
  s.default_ttl_s = config.exports.default_ttl.count();
  s.max_ttl_s = config.exports.max_ttl.count();
  s.pending_expiry_s = config.exports.pending_expiry.count();
  return s;
}

federation::ImportSettings Snapshot::import_settings() const {
  federation::ImportSettings s;
  for (const auto& p : config.peers)
    s.peers[p.domain] = {p.domain,           p.trust_domain,           p.import_policy,
                         p.max_egress_ports, p.max_changes_per_minute, 2 * p.max_exports};
  if (config.gateways.egress) {
    s.egress_ports = config.gateways.egress->ports;
    s.egress_host = config.gateways.egress->advertise_host;
    // An egress in this process binds here: a port another program holds is never given out.
    // A separate egress process tells us instead which ports it could not bind, and which it
    // holds (POST /api/v1/routes/egress-refusals, /egress-listening).
    if (config.gateways.egress->enabled) {
      s.port_bindable = [bind = config.gateways.egress->bind](int port) {
        return net::can_listen(bind, static_cast<uint16_t>(port));
      };
    } else {
      s.egress_confirms = true;  // the egress process says which ports it holds
    }
  }
  s.stale_after_s = config.sync.stale_after.count();
  s.withdraw_after_s = config.sync.withdraw_after.count();
  return s;
}

federation::MetricsImportSettings Snapshot::metrics_import_settings() const {
  federation::MetricsImportSettings s;
  s.domain = config.domain;
  for (const auto& p : config.peers) s.peers.push_back({p.domain, p.url, peer_trust, config.tls});
  s.interval = config.metrics.peer_scrape_interval;
  s.stale_after = config.sync.stale_after;
  s.max_series_per_peer = config.metrics.max_series_per_peer;
  s.max_bytes_per_peer = config.metrics.max_bytes_per_peer;
  return s;
}

routing::RouteInputs Snapshot::route_inputs() const {
  routing::RouteInputs in;
  in.peers = peer_domains;
  in.api_peers = api_peers;
  in.ingress = config.gateways.ingress.has_value();
  if (config.gateways.egress) in.egress_bind = config.gateways.egress->bind;
  return in;
}

bool Snapshot::source_admitted(const std::string& address) const {
  if (peer_sources.empty()) return true;
  const auto ip = IpAddress::parse(address);
  return ip && any_contains(peer_sources, *ip);
}

namespace {

Result<std::string> read_store_url(const config::Config& c) {
  if (c.store.type != config::StoreType::kPostgres) return std::string();
  auto url = read_secret_file(c.store.url_file.string());
  if (!url) return make_error(ErrorCode::kInvalidArgument, "store.url_file: " + url.error().message);
  return url;
}

Result<std::string> read_kuma_token(const config::Config& c) {
  if (c.control_plane.type != config::ControlPlaneType::kKuma || c.control_plane.kuma.token_file.empty())
    return std::string();
  auto token = read_secret_file(c.control_plane.kuma.token_file.string());
  if (!token) return make_error(ErrorCode::kInvalidArgument, "control_plane.token_file: " + token.error().message);
  return token;
}

// The certificates this domain presents: in their validity period, and signed by its own CA,
// or the broker does not start (and a reload is rejected); each error names the key and the
// file. A peer's CA that expires is that peer's problem, said in the log, not a reason to stop
// serving the others.
Status check_certificates(const config::Config& c) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  MESHFED_RETURN_IF_ERROR(pki::check_in_use("tls.ca_file", c.tls.ca_file, now));
  std::vector<std::pair<std::string, std::filesystem::path>> leaves = {{"tls.cert_file", c.tls.cert_file}};
  if (c.gateways.ingress) leaves.emplace_back("gateways.ingress.cert_file", c.gateways.ingress->cert_file);
  if (c.gateways.egress) leaves.emplace_back("gateways.egress.cert_file", c.gateways.egress->cert_file);
  for (const auto& [key, file] : leaves) {
    MESHFED_RETURN_IF_ERROR(pki::check_in_use(key, file, now));
    if (auto st = pki::verify_chain(file, c.tls.ca_file); !st) {
      return make_error(ErrorCode::kInvalidArgument, key + ": " + st.error().message + " (tls.ca_file)");
    }
  }
  for (size_t i = 0; i < c.peers.size(); ++i) {
    const auto key = "peers[" + std::to_string(i) + "].ca_file";
    std::error_code ec;
    if (!std::filesystem::exists(c.peers[i].ca_file, ec)) continue;  // load_snapshot says so, once
    if (auto st = pki::check_in_use(key, c.peers[i].ca_file, now); !st) spdlog::warn("{}", st.error().message);
  }
  return {};
}

}  // namespace

Result<std::shared_ptr<const Snapshot>> load_snapshot(config::Config c) {
  MESHFED_RETURN_IF_ERROR(check_certificates(c));
  auto s = std::make_shared<Snapshot>();
  auto tokens = api::TokenStore::load(c.admin.tokens_file);
  if (!tokens) {
    return make_error(tokens.error().code, "admin.tokens_file: " + tokens.error().message, tokens.error().fields);
  }
  s->tokens = std::make_shared<const api::TokenStore>(std::move(tokens).value());
  MESHFED_ASSIGN_OR_RETURN(auto tls,
                           http::make_server_context({c.tls.cert_file, c.tls.key_file, false, nullptr, nullptr}));
  s->admin_tls = tls;
  MESHFED_ASSIGN_OR_RETURN(auto info, pki::read_certificate(c.tls.cert_file));
  s->expiries.broker = info.not_after_unix;
  auto own_ca = pki::read_certificate(c.tls.ca_file);
  if (!own_ca) return make_error(ErrorCode::kInvalidArgument, "tls.ca_file: " + own_ca.error().message);
  s->expiries.ca = own_ca->not_after_unix;
  std::vector<pki::TrustedPeer> trusted;
  for (size_t i = 0; i < c.peers.size(); ++i) {
    const auto& peer = c.peers[i];
    auto ca = pki::read_certificate(peer.ca_file);
    if (!ca)
      return make_error(ErrorCode::kInvalidArgument, "peers[" + std::to_string(i) + "].ca_file: " + ca.error().message);
    s->expiries.peer_ca[peer.domain] = ca->not_after_unix;
    trusted.push_back({peer.domain, peer.trust_domain, peer.ca_file, {}});
    s->peer_domains.insert(peer.domain);
    if (peer.added_through_api) {
      // Separate gateways learn these with their routes: their config file does not name them.
      MESHFED_ASSIGN_OR_RETURN(auto cas, pki::certificates_pem(peer.ca_file));
      s->api_peers.push_back({peer.domain, peer.trust_domain, std::move(cas)});
    }
    for (const auto& text : peer.source_cidrs) {
      if (auto cidr = Cidr::parse(text)) s->peer_sources.push_back(*cidr);  // the config loader checked them
    }
  }
  MESHFED_ASSIGN_OR_RETURN(auto trust, pki::PeerTrust::load(trusted, pki::Role::kBroker));
  s->peer_trust = trust;
  http::ServerTlsOptions peer_opts{c.tls.cert_file, c.tls.key_file, true, nullptr, s->peer_trust};
  peer_opts.configure = [t = s->peer_trust.get()](ssl_ctx_st* ctx) { t->require_client_certificates(ctx); };
  peer_opts.resumption = false;
  MESHFED_ASSIGN_OR_RETURN(auto peer_tls, http::make_server_context(peer_opts));
  s->peer_tls = peer_tls;
  auto signer = pki::Signer::load(c.tls.cert_file, c.tls.key_file);
  if (!signer) return make_error(ErrorCode::kInvalidArgument, "tls.key_file: " + signer.error().message);
  s->signer = std::make_shared<const pki::Signer>(std::move(signer).value());
  MESHFED_ASSIGN_OR_RETURN(auto gateways, gateway::load_gateway_tls(c));
  s->gateways = std::move(gateways);
  MESHFED_ASSIGN_OR_RETURN(auto kuma_token, read_kuma_token(c));
  s->kuma_token = kuma_token;
  MESHFED_ASSIGN_OR_RETURN(auto store_url, read_store_url(c));
  s->store_url = store_url;
  if (c.gateways.ingress) s->ingress_advertised = config::parse_endpoint(c.gateways.ingress->advertise);
  s->config = std::move(c);
  return std::shared_ptr<const Snapshot>(std::move(s));
}

Status check_static_inventory(const config::Config& config) {
  if (config.control_plane.type != config::ControlPlaneType::kStatic) return {};
  const auto& file = config.control_plane.static_cp.inventory_file;
  const std::string key = "control_plane.inventory_file: ";
  errno = 0;
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    return make_error(ErrorCode::kInvalidArgument,
                      key + "cannot read " + file.string() + ": " + (errno ? std::strerror(errno) : "unreadable"));
  }
  if (auto inv = controlplane::parse_inventory(text.str()); !inv) {
    // Each problem once: listed by field when there are fields, else in the message.
    const auto& e = inv.error();
    return make_error(e.code, key + file.string() + (e.fields.empty() ? ": " + e.message : " is invalid"), e.fields);
  }
  return {};
}

namespace {

// The settings that take effect only at restart (the identity, the state, bound listeners):
// one table, read by both functions below.
template <typename Get>
struct RestartOnly {
  const char* key;
  Get get;  // the setting in a Config, const or not
};
template <typename Get>
RestartOnly(const char*, Get) -> RestartOnly<Get>;

const auto kRestartOnly = std::make_tuple(
    RestartOnly{"domain", [](auto& c) -> auto& { return c.domain;
}  // namespace
}  // namespace meshfed::app
, RestartOnly{"trust_domain", [](auto& c) -> auto& {return c.trust_domain;
}
}
, RestartOnly{"state_dir", [](auto& c) -> auto& {return c.state_dir;
}
}
, RestartOnly{"admin.listen", [](auto& c) -> auto& {return c.admin.listen;
}
}
, RestartOnly{"peer_api.listen", [](auto& c) -> auto& {return c.peer_api.listen;
}
}
, RestartOnly{"metrics.listen", [](auto& c) -> auto& {return c.metrics.listen;
}
});

template <typename Fn>
void for_each_restart_only(Fn&& fn) {
  std::apply([&](const auto&... setting) { (fn(setting.key, setting.get), ...); }, kRestartOnly);
}

}  // namespace

std::vector<std::string> restart_only_changes(const config::Config& running, const config::Config& fresh) {
  std::vector<std::string> out;
  for_each_restart_only([&](const char* key, const auto& get) {
    if (!(get(running) == get(fresh))) out.emplace_back(key);
  });
  return out;
}

config::Config keep_restart_only(const config::Config& running, config::Config fresh) {
  for_each_restart_only([&](const char*, const auto& get) { get(fresh) = get(running); });
  return fresh;
}

}  // namespace meshfed::app
