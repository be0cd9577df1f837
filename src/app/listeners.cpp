#include "listeners.hpp"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "meshfed/api/problem.hpp"

namespace meshfed::app {

Status Listeners::open() {
  const auto& cfg = p_.first_config();
  p_.admin_server = std::make_unique<http::HttpServer>(
      p_.runtime.io(), [this] { return p_.snapshot.get()->admin_tls; },
      [this](const http::Request& r) { return p_.admin_api->handle(r); },
      [](const Error& e) { return api::problem(e); },
      [this](const std::string& method, const std::string& path, std::function<void()> job) {
        run_admin_request(method, path, std::move(job));
      },
      http::ServerLimits{
          .name = "admin",
          .admission = {.max_connections_per_source = static_cast<int>(cfg.admin.max_connections_per_source)}});
  p_.admin_server->admission().count_refusals_in(p_.connection_refusals);
  MESHFED_RETURN_IF_ERROR(p_.admin_server->listen(cfg.admin.listen));
  const config::Endpoint admin_bound{cfg.admin.listen.host, p_.admin_server->port()};
  std::optional<config::Endpoint> peer_bound;
  if (cfg.peer_api.listen) {
    MESHFED_RETURN_IF_ERROR(start_peer_api());
    peer_bound = config::Endpoint{cfg.peer_api.listen->host, p_.peer_server->port()};
    spdlog::info("peer API on https://{}/federation/v1/ (TLS 1.3, client certificates of {} peers)",
                 peer_bound->to_string(), cfg.peers.size());
  }
  MESHFED_RETURN_IF_ERROR(start_gateways());
  MESHFED_RETURN_IF_ERROR(start_metrics_listener());
  p_.admin_address = admin_bound.to_string();
  write_runtime_file(admin_bound, peer_bound);
  return {};
}

void Listeners::stop_accepting() {
  p_.admin_server->stop();
  if (p_.peer_server) p_.peer_server->stop();
  if (p_.metrics_server) p_.metrics_server->stop();
}

int Listeners::open_connections() const {
  return p_.admin_server->open_connections() + (p_.peer_server ? p_.peer_server->open_connections() : 0);
}

void Listeners::run_admin_request(const std::string& method, const std::string& path, std::function<void()> job) {
  (p_.admin_api->runs_on(method, path) == api::Runs::kOffStore ? p_.off_store : p_.store).post(std::move(job));
}

Status Listeners::start_peer_api() {
  p_.catalog = std::make_unique<federation::Catalog>(*p_.db, *p_.reads, p_.clock);
  p_.peer_api = std::make_unique<api::PeerApi>(
      api::PeerApiDeps{*p_.catalog, p_.metrics, [this] { return p_.domain(); }, [this] { return ingress_address(); },
                       [this](const std::string& peer) { return p_.snapshot.get()->peer_domains.count(peer) > 0; },
                       [this](const std::string& peer) { return p_.metrics_export->text_for(peer); }, *p_.audit_head,
                       [this](const std::string& peer) { return p_.witness_book->answer(*p_.reads, peer); }});
  // The peer API reads through the read pool, never on the store thread: a kept catalog, or
  // "nothing new", is answered on the connection's own loop; a catalog to build, off it.
  p_.peer_server = std::make_unique<http::HttpServer>(
      p_.runtime.io(), [this] { return p_.snapshot.get()->peer_tls; },
      [this](const http::Request& r) { return p_.peer_api->handle(r); }, [](const Error& e) { return api::problem(e); },
      [this](const std::string&, const std::string&, std::function<void()> job) { p_.off_store.post(std::move(job)); },
      http::ServerLimits{.name = "peer"});
  p_.peer_server->set_quick_answers([this](const http::Request& r) { return p_.peer_api->answer_quickly(r); });
  p_.peer_server->set_not_modified_headers(
      [this](const http::Request& r) { return p_.peer_api->not_modified_headers(r); });
  p_.peer_server->admission().count_refusals_in(p_.connection_refusals);
  p_.peer_guard = std::make_unique<HandshakeGuard>(
      p_.clock, "peer",
      p_.metrics.counter("meshfed_peer_api_handshake_failures_total",
                         "TLS handshakes that failed on the peer API (unknown or impostor certificates, no "
                         "certificate, old TLS, timeouts), by reason.",
                         {"reason"}),
      p_.admin_api->auth_failures_metric());
  p_.peer_server->admission().add_source_filter(
      "source_range", "outside every peer's source_cidrs",
      [this](const std::string& address) { return p_.snapshot.get()->source_admitted(address); });
  p_.peer_server->admission().add_source_filter(
      "failed_credentials", "its certificates keep failing verification; paced",
      [this](const std::string& address) { return p_.peer_guard->admits(address); });
  p_.peer_server->set_identity([this](ssl_st* ssl) { return p_.snapshot.get()->peer_trust->peer_of(ssl); });
  p_.peer_server->on_handshake_failure(
      [this](const http::HttpServer::HandshakeFailure& failure) { p_.peer_guard->failed(failure); });
  return p_.peer_server->listen(*p_.first_config().peer_api.listen);
}

// The gateways that run inside the broker (`enabled: true`), on their own threads so that
// proxied bytes never queue behind API requests.
Status Listeners::start_gateways() {
  const auto s = p_.snapshot.get();
  const auto& g = s->config.gateways;
  if (g.ingress && g.ingress->enabled) {
    p_.ingress_gw =
        std::make_unique<gateway::IngressGateway>(*p_.gateway_metrics, gateway::GatewayLimits::from(g.ingress->tuning));
    MESHFED_RETURN_IF_ERROR(p_.ingress_gw->listen(g.ingress->listen));
    p_.ingress_gw->set_tls(s->gateways.ingress, s->gateways.ingress_callers);
    p_.ingress_bound_port = p_.ingress_gw->port();
    spdlog::info("ingress gateway on {}:{} (TLS 1.3, client certificates of peers' egress)", g.ingress->listen.host,
                 p_.ingress_gw->port());
  }
  if (g.egress && g.egress->enabled) {
    p_.egress_gw =
        std::make_unique<gateway::EgressGateway>(*p_.gateway_metrics, gateway::GatewayLimits::from(g.egress->tuning));
    p_.egress_gw->set_tls(s->gateways.egress, s->gateways.egress_servers);
    // A port another program holds: the import manager moves the import (store thread).
    p_.egress_gw->on_listen_refused([this](const std::string& id, uint16_t port, const std::string& error) {
      p_.store.post([this, id, port, error] {
        if (auto st = p_.imports->egress_port_refused(id, port, error); !st) {
          spdlog::error("imports: {}", st.error().message);
        }
      });
    });
  }
  p_.routes->attach(p_.ingress_gw.get(), p_.egress_gw.get());
  return {};
}

federation::IngressAddress Listeners::ingress_address() const {
  const auto s = p_.snapshot.get();
  if (!s->ingress_advertised) return {};
  const auto& ep = *s->ingress_advertised;
  return {ep.host, ep.port ? ep.port : p_.ingress_bound_port.load()};
}

// `metrics.listen`: /metrics and /federate for scrapers that should not reach the admin API,
// answered by the same handlers as on the admin listener.
Status Listeners::start_metrics_listener() {
  const auto& listen = p_.first_config().metrics.listen;
  if (!listen) return {};
  p_.metrics_server = std::make_unique<http::HttpServer>(
      p_.runtime.io(), nullptr,
      [this](const http::Request& r) {
        if (r.path == "/metrics" || r.path == "/federate") return p_.admin_api->handle(r);
        return api::problem(404, "only /metrics and /federate are served here");
      },
      [](const Error& e) { return api::problem(e); },
      [this](const std::string& method, const std::string& path, std::function<void()> job) {
        run_admin_request(method, path, std::move(job));
      },
      http::kScraperLimits);
  p_.metrics_server->admission().count_refusals_in(p_.connection_refusals);
  MESHFED_RETURN_IF_ERROR(p_.metrics_server->listen(*listen));
  spdlog::info("metrics on http://{}:{}/metrics and /federate", listen->host, p_.metrics_server->port());
  return {};
}

void Listeners::write_runtime_file(const config::Endpoint& admin, const std::optional<config::Endpoint>& peer_api) {
  // Lets scripts and tests find the ports chosen when listening on port 0.
  const auto& dir = p_.first_config().state_dir;
  {
    std::ofstream out(dir / "runtime.json.tmp");
    nlohmann::json j = {{"pid", ::getpid()}, {"admin", admin.to_string()}};
    if (peer_api) j["peer_api"] = peer_api->to_string();
    if (p_.ingress_gw)
      j["ingress"] =
          config::Endpoint{p_.first_config().gateways.ingress->listen.host, p_.ingress_gw->port()}.to_string();
    out << j.dump() << "\n";
  }
  std::filesystem::rename(dir / "runtime.json.tmp", dir / "runtime.json");
}

}  // namespace meshfed::app
