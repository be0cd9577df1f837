#include "meshfed/app/broker.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>

#include "meshfed/api/admin_api.hpp"
#include "meshfed/api/peer_api.hpp"
#include "meshfed/federation/catalog.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/federation/metrics_export.hpp"
#include "meshfed/federation/metrics_import.hpp"
#include "meshfed/federation/peer_watcher.hpp"
#include "meshfed/firewall/flows.hpp"
#include "meshfed/gateway/gateway.hpp"
#include "meshfed/gateway/route_builder.hpp"
#include "meshfed/pki/peer_trust.hpp"
#include "meshfed/api/problem.hpp"
#include "meshfed/config/config.hpp"
#include "meshfed/core/cidr.hpp"
#include "meshfed/controlplane/kuma_adapter.hpp"
#include "meshfed/controlplane/static_adapter.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/http/plain_server.hpp"
#include "meshfed/http/server.hpp"
#include "meshfed/pki/pki.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/workflow/export_workflow.hpp"

namespace meshfed::app {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr auto kTick = 200ms;            // expiry resolution ("within a second")
constexpr auto kInventoryCheck = 1s;     // how often the inventory file's mtime is looked at
constexpr auto kAuthSummaryEvery = 60s;  // audit summary of authentication failures
constexpr auto kShutdownGrace = 10s;     // in-flight requests get this long at SIGTERM
constexpr auto kCatalogPruneEvery = 60s;
// Catalog changes kept for deltas: a peer that was away for fewer changes than this resumes
// with a delta, one away longer gets a full snapshot.
constexpr int64_t kCatalogChangesKept = 100000;

workflow::WorkflowSettings settings_of(const config::Config& c) {
  workflow::WorkflowSettings s;
  s.domain = c.domain;
  s.trust_domain = c.trust_domain;
  for (const auto& p : c.peers) s.peers.insert(p.domain);
  s.default_ttl_s = c.exports.default_ttl.count();
  s.max_ttl_s = c.exports.max_ttl.count();
  s.pending_expiry_s = c.exports.pending_expiry.count();
  return s;
}

federation::ImportSettings import_settings_of(const config::Config& c) {
  federation::ImportSettings s;
  for (const auto& p : c.peers) s.peers[p.domain] = {p.domain, p.trust_domain, p.import_policy, p.max_egress_ports};
  if (c.gateways.egress) {
    s.egress_ports = c.gateways.egress->ports;
    s.egress_host = c.gateways.egress->advertise_host;
  }
  s.stale_after_s = c.sync.stale_after.count();
  s.withdraw_after_s = c.sync.withdraw_after.count();
  return s;
}

// Files the broker reads at start and on SIGHUP, loaded together so a reload is all or nothing.
struct LoadedFiles {
  std::shared_ptr<const api::TokenStore> tokens;
  std::shared_ptr<http::TlsContext> admin_tls;
  std::shared_ptr<const pki::PeerTrust> peer_trust;  // callers of the peer API: peers' brokers
  std::shared_ptr<http::TlsContext> peer_tls;
  int64_t broker_cert_expiry = 0;
  int64_t ca_cert_expiry = 0;
  std::map<std::string, int64_t> peer_ca_expiry;  // the first certificate of each peer's CA bundle
  gateway::GatewayTls gateways;
  std::string kuma_token;  // control_plane.token_file's content
};

Result<std::string> read_kuma_token(const config::Config& c) {
  if (c.control_plane.type != config::ControlPlaneType::kKuma || c.control_plane.kuma.token_file.empty())
    return std::string();
  auto token = read_secret_file(c.control_plane.kuma.token_file.string());
  if (!token) return make_error(ErrorCode::kInvalidArgument, "control_plane.token_file: " + token.error().message);
  return token;
}

Result<LoadedFiles> load_files(const config::Config& c) {
  LoadedFiles f;
  auto tokens = api::TokenStore::load(c.admin.tokens_file);
  if (!tokens) return tokens.error();
  f.tokens = std::make_shared<const api::TokenStore>(std::move(tokens).value());
  auto tls = http::make_server_context({c.tls.cert_file, c.tls.key_file, false, nullptr, nullptr});
  if (!tls) return tls.error();
  f.admin_tls = *tls;
  auto info = pki::read_certificate(c.tls.cert_file);
  if (!info) return info.error();
  f.broker_cert_expiry = info->not_after_unix;
  auto own_ca = pki::read_certificate(c.tls.ca_file);
  if (!own_ca) return make_error(ErrorCode::kInvalidArgument, "tls.ca_file: " + own_ca.error().message);
  f.ca_cert_expiry = own_ca->not_after_unix;
  std::vector<pki::TrustedPeer> trusted;
  for (size_t i = 0; i < c.peers.size(); ++i) {
    auto ca = pki::read_certificate(c.peers[i].ca_file);
    if (!ca) {
      return make_error(ErrorCode::kInvalidArgument, "peers[" + std::to_string(i) + "].ca_file: " + ca.error().message);
    }
    f.peer_ca_expiry[c.peers[i].domain] = ca->not_after_unix;
    trusted.push_back({c.peers[i].domain, c.peers[i].trust_domain, c.peers[i].ca_file});
  }
  auto trust = pki::PeerTrust::load(trusted, "broker");
  if (!trust) return trust.error();
  f.peer_trust = *trust;
  http::ServerTlsOptions peer_opts{c.tls.cert_file, c.tls.key_file, true, nullptr, f.peer_trust};
  peer_opts.configure = [t = f.peer_trust.get()](void* ctx) { t->require_client_certificates(ctx); };
  auto peer_tls = http::make_server_context(peer_opts);
  if (!peer_tls) return peer_tls.error();
  f.peer_tls = *peer_tls;
  auto gateways = gateway::load_gateway_tls(c);
  if (!gateways) return gateways.error();
  f.gateways = std::move(gateways).value();
  auto kuma_token = read_kuma_token(c);
  if (!kuma_token) return kuma_token.error();
  f.kuma_token = *kuma_token;
  return f;
}

// Settings that only take effect at restart; a change is reported, not applied.
std::vector<std::string> restart_only_changes(const config::Config& a, const config::Config& b) {
  std::vector<std::string> out;
  if (a.domain != b.domain) out.push_back("domain");
  if (a.trust_domain != b.trust_domain) out.push_back("trust_domain");
  if (a.state_dir != b.state_dir) out.push_back("state_dir");
  if (!(a.admin.listen == b.admin.listen)) out.push_back("admin.listen");
  if (a.peer_api.listen != b.peer_api.listen) out.push_back("peer_api.listen");
  if (a.metrics.listen != b.metrics.listen) out.push_back("metrics.listen");
  return out;
}

class Broker {
 public:
  explicit Broker(config::Config cfg) : cfg_(std::move(cfg)) {}

  int run() {
    // Signals first: from the moment anyone can see us (runtime.json, READY=1), a SIGHUP must
    // be a reload, not the default action that kills the process. Asio queues them until read.
    signals_.add(SIGHUP);
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    auto files = load_files(cfg_);
    if (!files) {
      spdlog::critical("cannot start: {}", config::format_errors(files.error()));
      return 1;
    }
    std::error_code ec;
    std::filesystem::create_directories(cfg_.state_dir, ec);
    if (ec) {
      spdlog::critical("cannot create state_dir {}: {}", cfg_.state_dir.string(), ec.message());
      return 1;
    }
    auto db = store::Database::open(cfg_.state_dir / "meshfed.db");
    if (!db) {
      spdlog::critical("cannot start: {}", db.error().message);
      return 1;
    }
    db_ = std::move(db).value();
    apply_files(std::move(files).value(), cfg_);

    if (cfg_.control_plane.type == config::ControlPlaneType::kKuma) {
      auto kuma = std::make_unique<controlplane::KumaAdapter>(cfg_.control_plane.kuma, kuma_token_);
      kuma_ = kuma.get();
      adapter_ = std::move(kuma);
      // The adapter applies in the background; when it learns an import's fate, imports ask again.
      adapter_->on_results_changed([this] {
        asio::post(store_pool_, [this] {
          if (auto st = imports_->reconcile(); !st) spdlog::error("imports: {}", st.error().message);
        });
      });
    } else {
      auto from_files = std::make_unique<controlplane::StaticAdapter>(cfg_.control_plane.static_cp.inventory_file,
                                                                      cfg_.control_plane.static_cp.imports_dir);
      static_ = from_files.get();
      adapter_ = std::move(from_files);
    }
    (void)adapter_->refresh_inventory(true);  // a broken file is reported by health()
    workflow_ = std::make_unique<workflow::ExportWorkflow>(*db_, clock_, *adapter_, settings_of(cfg_));
    imports_ = std::make_unique<federation::ImportManager>(*db_, clock_, *adapter_, import_settings_of(cfg_));
    if (kuma_) kuma_->start();  // its results listener reaches imports_
    register_metrics();
    metrics_export_ = std::make_unique<federation::MetricsExporter>(federation::metrics_export_settings(cfg_), metrics_,
                                                                    [this] { return exported_metrics_by_peer(); });
    metrics_import_ = std::make_unique<federation::MetricsImporter>(metrics_import_settings(cfg_), metrics_,
                                                                    [this](const std::string& peer) {
                                                                      std::set<std::string> aliases;
                                                                      run_on_store([&] {
                                                                        if (auto a = imports_->live_aliases(peer))
                                                                          aliases = std::move(a).value();
                                                                        else
                                                                          store_errors_->inc({"metrics"});
                                                                      });
                                                                      return aliases;
                                                                    });
    api_ = std::make_unique<api::AdminApi>(api::AdminApiDeps{
        *workflow_, *adapter_, metrics_,
        [this] {
          std::lock_guard lock(mu_);
          return tokens_;
        },
        [this] { return readiness(); }, *imports_, [this](const std::string& peer) { peer_changed(peer); },
        [this](firewall::Mode mode) -> Result<firewall::FlowSet> {
          // Called off the store thread (see run_request): the store is read there, and the
          // names are resolved here, so a slow resolver holds up no SQLite work.
          std::optional<Result<firewall::FlowState>> state;
          config::Config cfg;
          run_on_store([&] {
            state = firewall::load_flow_state(*db_);
            cfg = cfg_;
          });
          if (!*state) return state->error();
          return firewall::compute_flows(cfg, **state, mode, firewall::resolve_host);
        },
        [this] {
          refresh_routes();  // built on demand when no gateway runs in this process
          return routes_.current();
        },
        [this](const std::vector<std::string>& match) { return metrics_import_->federate(match); }});
    workflow_->set_catalog_listener(
        [this](const std::set<std::string>& peers, const std::set<std::string>& ids) { exports_changed(peers, ids); });
    imports_->set_change_listener([this] { routes_changed(); });
    run_on_store([this] {
      // The control plane is brought in line with the store before anything else happens.
      if (auto st = imports_->reconcile(); !st) spdlog::error("imports: {}", st.error().message);
      publish_exports();
    });

    server_ = std::make_unique<http::HttpsServer>(
        io_,
        [this] {
          std::lock_guard lock(mu_);
          return admin_tls_;
        },
        [this](const http::Request& r) { return api_->handle(r); }, [](const Error& e) { return api::problem(e); },
        [this](const std::string& path, std::function<void()> job) { run_request(path, std::move(job)); },
        http::ServerLimits{.max_connections_per_source = static_cast<int>(cfg_.admin.max_connections_per_source)});
    if (auto st = server_->listen(cfg_.admin.listen); !st) {
      spdlog::critical("cannot start: {}", st.error().message);
      return 1;
    }
    const config::Endpoint bound{cfg_.admin.listen.host, server_->port()};
    std::optional<config::Endpoint> peer_bound;
    if (cfg_.peer_api.listen) {
      if (auto st = start_peer_api(); !st) {
        spdlog::critical("cannot start: {}", st.error().message);
        return 1;
      }
      peer_bound = config::Endpoint{cfg_.peer_api.listen->host, peer_server_->port()};
      spdlog::info("peer API on https://{}/federation/v1/ (TLS 1.3, client certificates of {} peers)",
                   peer_bound->to_string(), cfg_.peers.size());
    }
    if (auto st = start_gateways(); !st) {
      spdlog::critical("cannot start: {}", st.error().message);
      return 1;
    }
    if (auto st = start_metrics_listener(); !st) {
      spdlog::critical("cannot start: {}", st.error().message);
      return 1;
    }
    write_runtime_file(bound, peer_bound);
    record("broker.started", {{"admin", bound.to_string()}, {"schema_version", db_->schema_version()}});
    spdlog::info("meshfed {} broker for domain {} ready: admin API https://{}/api/v1/", MESHFED_VERSION, cfg_.domain,
                 bound.to_string());

    start_watchers(cfg_);
    metrics_export_->start();
    metrics_import_->start();
    wait_signal();
    schedule_tick();
    sd_notify(0, "READY=1");
    io_.run();

    stop_gateways();
    if (kuma_) kuma_->stop();  // before the store thread its listener posts to ends
    lifecycle_pool_.join();    // a restart of the watchers in progress ends first
    stop_watchers();           // they may be waiting on the store thread, which still runs
    metrics_export_->stop();
    metrics_import_->stop();
    record("broker.stopped", nlohmann::json::object());  // before join: the pool runs it
    store_pool_.join();
    off_store_pool_.join();
    spdlog::info("meshfed broker for domain {} stopped", cfg_.domain);
    return 0;
  }

 private:
  void apply_files(LoadedFiles f, const config::Config& c) {
    std::lock_guard lock(mu_);
    tokens_ = std::move(f.tokens);
    admin_tls_ = std::move(f.admin_tls);
    peer_trust_ = std::move(f.peer_trust);
    peer_tls_ = std::move(f.peer_tls);
    broker_cert_expiry_ = f.broker_cert_expiry;
    ca_cert_expiry_ = f.ca_cert_expiry;
    peer_ca_expiry_ = f.peer_ca_expiry;
    peer_domains_.clear();
    peer_sources_.clear();
    for (const auto& p : c.peers) {
      peer_domains_.insert(p.domain);
      for (const auto& text : p.source_cidrs) {
        if (auto cidr = Cidr::parse(text)) peer_sources_.push_back(*cidr);
      }
    }
    ingress_ = {};
    if (c.gateways.ingress) {
      // Advertised port 0: the port the in-process ingress bound (tests, demos).
      if (auto ep = config::parse_endpoint(c.gateways.ingress->advertise)) {
        ingress_ = {ep->host, ep->port ? ep->port : ingress_bound_port_};
      }
    }
    gateway_tls_ = f.gateways;
    kuma_token_ = f.kuma_token;
    if (ingress_gw_) ingress_gw_->set_tls(gateway_tls_.ingress, gateway_tls_.ingress_callers);
    if (egress_gw_) egress_gw_->set_tls(gateway_tls_.egress);
  }

  // The gateways that run inside the broker (`enabled: true`), on their own event-loop threads
  // so that proxied bytes never queue behind API requests.
  Status start_gateways() {
    gateway_metrics_ = std::make_unique<gateway::GatewayMetrics>(metrics_);
    const auto& g = cfg_.gateways;
    if (g.ingress && g.ingress->enabled) {
      ingress_gw_ =
          std::make_unique<gateway::IngressGateway>(*gateway_metrics_, gateway::GatewayLimits::from(g.ingress->tuning));
      if (auto st = ingress_gw_->listen(g.ingress->listen); !st) return st;
      std::lock_guard lock(mu_);
      ingress_gw_->set_tls(gateway_tls_.ingress, gateway_tls_.ingress_callers);
      ingress_bound_port_ = ingress_gw_->port();
      if (ingress_.port == 0) ingress_.port = ingress_bound_port_;
      spdlog::info("ingress gateway on {}:{} (TLS 1.3, client certificates of peers' egress)", g.ingress->listen.host,
                   ingress_bound_port_);
    }
    if (g.egress && g.egress->enabled) {
      egress_gw_ =
          std::make_unique<gateway::EgressGateway>(*gateway_metrics_, gateway::GatewayLimits::from(g.egress->tuning));
      std::lock_guard lock(mu_);
      egress_gw_->set_tls(gateway_tls_.egress);
    }
    return {};
  }

  void stop_gateways() {
    if (ingress_gw_) ingress_gw_->stop();
    if (egress_gw_) egress_gw_->stop();
  }

  // After a commit that changed exports (store thread): an in-process ingress gets their
  // routes first, so that no peer hears of an export before our ingress admits it; then the
  // peers whose catalog view changed are woken.
  void exports_changed(const std::set<std::string>& peers, const std::set<std::string>& export_ids) {
    publish_exports();
    metrics_export_->exports_changed();
    if (!routes_eager()) {
      routes_changed();
    } else if (auto fresh =
                   gateway::ingress_routes_of(*db_, *adapter_->inventory(), route_inputs(), export_ids, clock_.now());
               !fresh) {
      routes_changed();  // a full rebuild will try again
    } else if (routes_.replace_ingress(export_ids, std::move(fresh).value())) {
      hand_over_routes();
    }
    if (!peer_server_) return;
    asio::post(io_,
               [this, keys = std::vector<std::string>(peers.begin(), peers.end())] { peer_server_->notify(keys); });
  }

  // Control planes that authorise exports (Kuma) get every approved export (store thread).
  void publish_exports() {
    if (!kuma_) return;
    std::vector<controlplane::DesiredExport> out;
    const auto inv = adapter_->inventory();
    const bool complete = for_each_approved([&](const store::ExportRecord& e) {
      const auto* svc = inv->find(e.mesh, e.service, e.zone);
      out.push_back({e.id, e.mesh, e.service, e.zone, e.port, svc && svc->from_dataplanes});
    });
    if (complete) adapter_->set_exports(std::move(out));
  }

  // Every approved export, page by page (store thread). False, and counted, if the store failed.
  bool for_each_approved(const std::function<void(const store::ExportRecord&)>& fn) {
    for (int64_t after = 0;;) {
      auto page = workflow_->list(store::ExportState::kApproved, after ? std::to_string(after) : "", 1000);
      if (!page) {
        store_errors_->inc({"exports"});
        return false;
      }
      for (const auto& e : page->items) fn(e);
      if (!page->next) return true;
      after = page->items.back().seq;
    }
  }

  // What each peer's metrics selection starts from: its unexpired approved exports that name
  // metrics (from the exporter's thread).
  federation::ExportedMetricsByPeer exported_metrics_by_peer() {
    federation::ExportedMetricsByPeer out;
    run_on_store([&] {
      const int64_t now = to_unix_ms(clock_.now());
      for_each_approved([&](const store::ExportRecord& e) {
        if (e.metrics.empty() || (e.expires_at_ms && *e.expires_at_ms <= now)) return;
        for (const auto& peer : e.peers) out[peer].push_back({e.service, e.alias, e.metrics});
      });
    });
    return out;
  }

  federation::MetricsImportSettings metrics_import_settings(const config::Config& c) {
    federation::MetricsImportSettings s;
    std::lock_guard lock(mu_);
    for (const auto& p : c.peers) s.peers.push_back({p.domain, p.url, peer_trust_, c.tls});
    s.interval = c.metrics.peer_scrape_interval;
    s.stale_after = c.sync.stale_after;
    s.max_series_per_peer = c.metrics.max_series_per_peer;
    s.max_bytes_per_peer = c.metrics.max_bytes_per_peer;
    return s;
  }

  // `metrics.listen`: /metrics and /federate for scrapers that should not reach the admin API,
  // answered by the same handlers as on the admin listener.
  Status start_metrics_listener() {
    if (!cfg_.metrics.listen) return {};
    metrics_server_ = std::make_unique<http::PlainHttpServer>(
        io_,
        [this](const http::Request& r) {
          if (r.path == "/metrics" || r.path == "/federate") return api_->handle(r);
          return api::problem(404, "only /metrics and /federate are served here");
        },
        [this](const std::string& path, std::function<void()> job) { run_request(path, std::move(job)); });
    if (auto st = metrics_server_->listen(*cfg_.metrics.listen); !st) return st;
    spdlog::info("metrics on http://{}:{}/metrics and /federate", cfg_.metrics.listen->host, metrics_server_->port());
    return {};
  }

  // Something else the routing table depends on changed (store thread). With gateways in this
  // process the table is rebuilt at once when the last rebuild is a tick ago, otherwise at the
  // next tick: a single change reaches them immediately, a burst costs at most one full rebuild
  // a tick. Without, the route watches of separate gateways are woken and the table is built
  // when they ask: a broker nobody asks for routes never pays for them.
  void routes_changed() {
    routes_dirty_ = true;
    if (!routes_eager()) {
      asio::post(io_, [this] { server_->notify({api::kRoutesWaitKey}); });
    } else if (std::chrono::steady_clock::now() - last_routes_build_ >= kTick) {
      refresh_routes();
    }
  }

  bool routes_eager() const { return ingress_gw_ || egress_gw_; }

  gateway::RouteInputs route_inputs() const {
    gateway::RouteInputs in;
    for (const auto& p : cfg_.peers) in.peers.insert(p.domain);
    in.ingress = cfg_.gateways.ingress.has_value();
    if (cfg_.gateways.egress) in.egress_bind = cfg_.gateways.egress->bind;
    return in;
  }

  // On the store thread: rebuilds the routing table if something it depends on changed.
  void refresh_routes() {
    if (!routes_dirty_) return;
    routes_dirty_ = false;
    last_routes_build_ = std::chrono::steady_clock::now();
    auto table = gateway::build_routes(*db_, *adapter_->inventory(), route_inputs(), clock_.now());
    if (!table) {
      routes_dirty_ = true;  // the next tick tries again
      store_errors_->inc({"routes"});
      spdlog::error("routes: {}", table.error().message);
      return;
    }
    if (routes_.update(std::move(table).value())) hand_over_routes();
  }

  // Gives the current table to the in-process gateways and wakes separate gateways' route watch.
  void hand_over_routes() {
    const auto current = routes_.current();
    spdlog::debug("routes: revision {}: {} ingress, {} egress", current->revision, current->ingress.size(),
                  current->egress.size());
    if (ingress_gw_) ingress_gw_->set_routes(current);
    if (egress_gw_) egress_gw_->set_routes(current);
    asio::post(io_, [this] { server_->notify({api::kRoutesWaitKey}); });
  }

  // Where a request is answered: on the store thread, except /federate, which needs no store and
  // must not hold SQLite work up while it formats a hundred thousand series, and the firewall
  // rules, which resolve host names (and read the store through run_on_store).
  void run_request(const std::string& path, std::function<void()> job) {
    if (path == "/federate" || path == "/api/v1/firewall") {
      asio::post(off_store_pool_, std::move(job));
    } else {
      asio::post(store_pool_, std::move(job));
    }
  }

  // Runs `job` on the store thread and waits for it. Never call it from the store thread.
  void run_on_store(const std::function<void()>& job) {
    std::promise<void> done;
    asio::post(store_pool_, [&] {
      job();
      done.set_value();
    });
    done.get_future().wait();
  }

  // `cfg` is the caller's copy: the store thread may replace cfg_ meanwhile.
  void start_watchers(const config::Config& cfg) {
    std::shared_ptr<const pki::PeerTrust> trust;
    {
      std::lock_guard lock(mu_);
      trust = peer_trust_;
    }
    std::lock_guard lock(watchers_mu_);
    for (const auto& p : cfg.peers) {
      federation::WatcherOptions o;
      o.peer = p.domain;
      o.url = p.url;
      o.trust = trust;
      o.tls = cfg.tls;
      o.wait = cfg.sync.wait;
      o.trust_domain = p.trust_domain;
      o.max_exports = p.max_exports;
      o.ingress_cidrs = p.ingress_cidrs;
      o.sync_errors = sync_errors_;
      o.catalog_refusals = catalog_refusals_;
      auto w = std::make_unique<federation::PeerWatcher>(o, *imports_,
                                                         [this](std::function<void()> job) { run_on_store(job); });
      w->start();
      watchers_[p.domain] = std::move(w);
    }
  }

  void stop_watchers() {
    std::map<std::string, std::unique_ptr<federation::PeerWatcher>> old;
    {
      std::lock_guard lock(watchers_mu_);
      old.swap(watchers_);
    }
    for (auto& [peer, w] : old) w->stop();
  }

  // After a quarantine or release: our watcher of that peer and the peer's own long-polls on
  // our peer API react at once (a waiting long-poll re-evaluates and is refused).
  void peer_changed(const std::string& peer) {
    routes_changed();
    {
      std::lock_guard lock(watchers_mu_);
      if (auto it = watchers_.find(peer); it != watchers_.end()) it->second->wake();
    }
    if (peer_server_) asio::post(io_, [this, peer] { peer_server_->notify({peer}); });
  }

  // Audits a broker life-cycle event (start and stop, when nothing else runs on the store).
  void record(const std::string& action, nlohmann::json details) {
    run_on_store([&] {
      if (auto st =
              workflow_->record_event(workflow::kSystemActor, action, "broker/" + cfg_.domain, std::move(details));
          !st) {
        spdlog::error("audit: cannot record {}: {}", action, st.error().message);
      }
    });
  }

  Status start_peer_api() {
    catalog_ = std::make_unique<federation::Catalog>(*db_, clock_);
    peer_api_ = std::make_unique<api::PeerApi>(
        api::PeerApiDeps{*catalog_, metrics_, [this] { return cfg_.domain; },
                         [this] {
                           std::lock_guard lock(mu_);
                           return ingress_;
                         },
                         [this](const std::string& peer) {
                           std::lock_guard lock(mu_);
                           return peer_domains_.count(peer) > 0;
                         },
                         [this](const std::string& peer) { return imports_->is_quarantined(peer); },
                         [this](const std::string& peer) { return metrics_export_->text_for(peer); }});
    peer_server_ = std::make_unique<http::HttpsServer>(
        io_,
        [this] {
          std::lock_guard lock(mu_);
          return peer_tls_;
        },
        [this](const http::Request& r) { return peer_api_->handle(r); }, [](const Error& e) { return api::problem(e); },
        [this](const std::string& path, std::function<void()> job) { run_request(path, std::move(job)); });
    peer_server_->set_source_filter([this](const std::string& address) {
      std::lock_guard lock(mu_);
      return peer_sources_.empty() ||
             (IpAddress::parse(address) && any_contains(peer_sources_, *IpAddress::parse(address)));
    });
    peer_server_->set_identity([this](void* ssl) {
      std::shared_ptr<const pki::PeerTrust> trust;
      {
        std::lock_guard lock(mu_);
        trust = peer_trust_;
      }
      return trust->peer_of(ssl);
    });
    auto& handshake_failures = metrics_.counter("meshfed_peer_api_handshake_failures_total",
                                                "TLS handshakes refused on the peer API (unknown or impostor "
                                                "certificates, no certificate, old TLS), by reason.",
                                                {"reason"});
    peer_server_->on_handshake_failure(
        [&handshake_failures](const std::string& reason) { handshake_failures.inc({reason}); });
    return peer_server_->listen(*cfg_.peer_api.listen);
  }

  void write_runtime_file(const config::Endpoint& admin, const std::optional<config::Endpoint>& peer_api) {
    // Lets scripts and tests find the ports chosen when listening on port 0.
    const auto path = cfg_.state_dir / "runtime.json";
    const auto tmp = cfg_.state_dir / "runtime.json.tmp";
    {
      std::ofstream out(tmp);
      nlohmann::json j = {{"pid", ::getpid()}, {"admin", admin.to_string()}};
      if (peer_api) j["peer_api"] = peer_api->to_string();
      if (ingress_gw_)
        j["ingress"] = config::Endpoint{cfg_.gateways.ingress->listen.host, ingress_gw_->port()}.to_string();
      out << j.dump() << "\n";
    }
    std::filesystem::rename(tmp, path);
  }

  void wait_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        sd_notify(0, "RELOADING=1");
        asio::post(store_pool_, [this] {
          reload();
          sd_notify(0, "READY=1");
        });
        wait_signal();
      } else {
        shutdown();
      }
    });
  }

  void shutdown() {
    spdlog::info("stopping: no new connections, finishing in-flight requests");
    sd_notify(0, "STOPPING=1");
    stopping_ = true;
    tick_timer_.cancel();
    server_->stop();
    if (peer_server_) peer_server_->stop();
    if (metrics_server_) metrics_server_->stop();
    shutdown_deadline_ = std::chrono::steady_clock::now() + kShutdownGrace;
    wait_for_drain();
  }

  void wait_for_drain() {
    const int open = server_->open_connections() + (peer_server_ ? peer_server_->open_connections() : 0);
    if (open == 0 || std::chrono::steady_clock::now() >= shutdown_deadline_) {
      if (open > 0) spdlog::warn("stopping with {} connections still open after the grace period", open);
      io_.stop();
      return;
    }
    drain_timer_.expires_after(50ms);
    drain_timer_.async_wait([this](const boost::system::error_code&) { wait_for_drain(); });
  }

  void schedule_tick() {
    tick_timer_.expires_after(kTick);
    tick_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      if (!tick_running_.exchange(true)) asio::post(store_pool_, [this] { tick(); });
      schedule_tick();
    });
  }

  // Periodic work, on the store thread.
  void tick() {
    const auto now = std::chrono::steady_clock::now();
    if (auto n = workflow_->expire_due(); !n) {
      store_errors_->inc({"expire"});
      spdlog::error("expiry sweep failed: {}", n.error().message);
    }
    if (catalog_ && now - last_catalog_prune_ >= kCatalogPruneEvery) {
      last_catalog_prune_ = now;
      if (auto st = catalog_->prune(kCatalogChangesKept); !st) store_errors_->inc({"catalog_prune"});
    }
    if (now - last_inventory_check_ >= kInventoryCheck) {
      last_inventory_check_ = now;
      if (auto st = imports_->tick(); !st) {
        store_errors_->inc({"imports"});
        spdlog::error("imports: {}", st.error().message);
      }
      const auto before = adapter_->inventory();
      (void)adapter_->refresh_inventory(false);
      if (adapter_->inventory() != before) {
        routes_changed();  // targets may have come or gone
        publish_exports();
      }
    }
    if (routes_eager()) refresh_routes();
    if (now - last_auth_summary_ >= kAuthSummaryEvery) {
      last_auth_summary_ = now;
      auto failures = api_->take_auth_failures();
      if (!failures.empty()) {
        nlohmann::json details = {{"window_s", kAuthSummaryEvery.count()}, {"by_reason", failures}};
        if (auto st = workflow_->record_event(workflow::kSystemActor, "auth.failures", "admin-api", details); !st) {
          spdlog::error("audit: cannot record auth failures: {}", st.error().message);
        }
      }
    }
    tick_running_ = false;
  }

  // SIGHUP, on the store thread: all of the new config and its files, or none of it.
  void reload() {
    spdlog::info("reloading {}", cfg_.file.string());
    auto fresh = config::load_config(cfg_.file);
    auto reject = [&](const std::string& why) {
      spdlog::error("reload rejected, keeping the running config: {}", why);
      reloads_->inc({"rejected"});
      (void)workflow_->record_event(workflow::kSystemActor, "config.reload_rejected", "config/" + cfg_.domain,
                                    {{"error", why}});
    };
    if (!fresh) return reject(config::format_errors(fresh.error()));
    auto files = load_files(*fresh);
    if (!files) return reject(config::format_errors(files.error()));
    if (fresh->control_plane.type != cfg_.control_plane.type)
      return reject("control_plane.type changes only at restart");
    if (fresh->control_plane.type == config::ControlPlaneType::kStatic) {
      std::ifstream in(fresh->control_plane.static_cp.inventory_file);
      std::stringstream ss;
      ss << in.rdbuf();
      if (!in) return reject("cannot read inventory " + fresh->control_plane.static_cp.inventory_file.string());
      if (auto inv = controlplane::parse_inventory(ss.str()); !inv) return reject(inv.error().message);
    }
    const auto ignored = restart_only_changes(cfg_, *fresh);
    for (const auto& key : ignored) spdlog::warn("reload: {} changed; it takes effect only at restart", key);
    // Keep the restart-only values so that what runs and what is reported stay consistent.
    config::Config next = *fresh;
    next.domain = cfg_.domain;
    next.trust_domain = cfg_.trust_domain;
    next.state_dir = cfg_.state_dir;
    next.admin.listen = cfg_.admin.listen;
    next.peer_api.listen = cfg_.peer_api.listen;
    next.metrics.listen = cfg_.metrics.listen;
    apply_files(std::move(files).value(), next);
    if (static_) static_->set_inventory_file(next.control_plane.static_cp.inventory_file);
    if (kuma_) {
      std::lock_guard lock(mu_);
      kuma_->reconfigure(next.control_plane.kuma, kuma_token_);
    }
    (void)adapter_->refresh_inventory(true);
    workflow_->update_settings(settings_of(next));
    if (auto st = imports_->update_settings(import_settings_of(next)); !st) {
      spdlog::error("reload: imports: {}", st.error().message);
    }
    cfg_ = std::move(next);
    metrics_export_->reconfigure(federation::metrics_export_settings(cfg_));
    metrics_import_->reconfigure(metrics_import_settings(cfg_));
    routes_changed();
    if (peer_server_) peer_server_->revalidate_peers();  // what a removed or replaced CA admitted ends
    // Watchers wait on this thread, and joining one can take as long as its current call: they
    // are restarted on the lifecycle thread, never here nor on the event loop.
    asio::post(lifecycle_pool_, [this, cfg = cfg_] {
      stop_watchers();
      start_watchers(cfg);
    });
    reloads_->inc({"applied"});
    (void)workflow_->record_event(workflow::kSystemActor, "config.reloaded", "config/" + cfg_.domain,
                                  {{"restart_required_for", ignored}});
    spdlog::info("reload applied");
  }

  api::Readiness readiness() {
    api::Readiness r;
    auto head = workflow_->audit_head();
    r.checks["store"] = head ? "ok" : head.error().message;
    const auto h = adapter_->health();
    r.checks["inventory"] = h.detail;
    r.ready = head.ok() && h.ready && !stopping_;
    if (stopping_) r.checks["broker"] = "stopping";
    return r;
  }

  void register_metrics() {
    auto& build = metrics_.gauge("meshfed_build_info", "Build information; always 1.", {"version", "domain"});
    build.set({MESHFED_VERSION, cfg_.domain}, 1);
    auto& exports = metrics_.gauge("meshfed_exports", "Exports by state.", {"state"});
    auto& missing = metrics_.gauge("meshfed_exports_target_missing",
                                   "Approved exports whose service or port is not in the inventory.");
    auto& head = metrics_.gauge("meshfed_audit_head_seq", "Sequence number of the newest audit entry.");
    auto& inv_errors = metrics_.gauge("meshfed_inventory_errors", "Failed inventory loads since start.");
    auto& inv_ok = metrics_.gauge("meshfed_inventory_valid", "1 if the current inventory source is valid, else 0.");
    auto& cert = metrics_.gauge("meshfed_certificate_expiry_timestamp_seconds",
                                "Expiry (Unix time) of each certificate in use: ours by role (broker, ingress, "
                                "egress, ca), and each peer's CA (role peer_ca).",
                                {"role", "peer"});
    auto& peer_up = metrics_.gauge("meshfed_peer_state", "1 for each peer's current state.", {"peer", "state"});
    auto& peer_revision = metrics_.gauge("meshfed_peer_revision", "The peer's catalog revision we applied.", {"peer"});
    auto& peer_success = metrics_.gauge("meshfed_peer_last_success_timestamp_seconds",
                                        "Unix time of the last successful sync with the peer.", {"peer"});
    auto& imports = metrics_.gauge("meshfed_imports", "Imports by peer and state.", {"peer", "state"});
    metrics_.on_collect([this, &peer_up, &peer_revision, &peer_success, &imports] {
      peer_up.clear();
      peer_revision.clear();
      peer_success.clear();
      imports.clear();
      auto peers = imports_->peers();
      if (!peers) return store_errors_->inc({"metrics"});
      for (const auto& p : *peers) {
        const std::string& d = p.record.domain;
        for (const std::string st : {"connected", "unreachable", "stale", "quarantined"})
          peer_up.set({d, st}, st == p.state ? 1 : 0);
        peer_revision.set({d}, static_cast<double>(p.record.revision));
        if (p.record.last_success_ms) peer_success.set({d}, static_cast<double>(*p.record.last_success_ms) / 1000.0);
        for (const auto& [state, n] : p.imports) imports.set({d, state}, static_cast<double>(n));
      }
    });
    auto& cp_events = metrics_.counter("meshfed_controlplane_events_total",
                                       "Control-plane adapter events by kind: reconcile runs, resources created, "
                                       "drift repaired, deleted, name clashes, errors by kind.",
                                       {"event"});
    metrics_.on_collect([this, &cp_events] {
      // The adapter counts since start; the counter moves by what is new since the last scrape.
      std::lock_guard lock(cp_events_mu_);
      for (const auto& [event, n] : adapter_->health().events) {
        if (n > cp_events_seen_[event]) cp_events.inc({event}, static_cast<double>(n - cp_events_seen_[event]));
        cp_events_seen_[event] = n;
      }
    });
    store_errors_ = &metrics_.counter("meshfed_store_errors_total", "Failed store operations by operation.", {"op"});
    reloads_ = &metrics_.counter("meshfed_config_reloads_total", "Config reloads by result.", {"result"});
    auto& by_peer = metrics_.gauge("meshfed_exports_by_peer", "Exports by the peer they are scoped to and state.",
                                   {"peer", "state"});
    sync_errors_ = &metrics_.counter("meshfed_peer_sync_errors_total",
                                     "Failed catalog syncs with each peer, by reason: unreachable, http_status, "
                                     "rejected_catalog.",
                                     {"peer", "reason"});
    catalog_refusals_ = &metrics_.counter("meshfed_peer_catalog_refusals_total",
                                          "Catalog answers refused whole, by peer and reason: json, size, depth, "
                                          "domain, field, count, ingress.",
                                          {"peer", "reason"});
    auto& arrival = metrics_.histogram("meshfed_import_approval_latency_seconds",
                                       "From the peer's approval of an export to our first sight of it.", {"peer"},
                                       {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300});
    imports_->set_arrival_listener([&arrival](const std::string& peer, int64_t ms) {
      arrival.observe({peer}, static_cast<double>(std::max<int64_t>(ms, 0)) / 1000.0);
    });
    metrics_.on_collect([this, &exports, &by_peer, &missing, &head, &inv_errors, &inv_ok, &cert] {
      exports.clear();
      for (const std::string s : {"pending", "approved", "rejected", "cancelled", "revoked", "expired"})
        exports.set({s}, 0);
      int64_t target_missing = 0;
      for_each_approved([&](const store::ExportRecord& e) { target_missing += workflow_->target_missing(e) ? 1 : 0; });
      missing.set({}, static_cast<double>(target_missing));
      if (auto counts = workflow_->count_by_state()) {
        for (const auto& [state, n] : *counts) exports.set({state}, static_cast<double>(n));
      } else {
        store_errors_->inc({"metrics"});
      }
      by_peer.clear();
      if (auto counts = workflow_->count_by_peer_and_state()) {
        for (const auto& [key, n] : *counts) by_peer.set({key.first, key.second}, static_cast<double>(n));
      } else {
        store_errors_->inc({"metrics"});
      }
      if (auto h = workflow_->audit_head()) head.set({}, static_cast<double>(h->first));
      const auto health = adapter_->health();
      inv_errors.set({}, static_cast<double>(health.inventory_errors));
      inv_ok.set({}, health.ready && health.detail.find("invalid") == std::string::npos ? 1 : 0);
      std::lock_guard lock(mu_);
      cert.clear();  // a peer removed on reload takes its CA with it
      cert.set({"broker", ""}, static_cast<double>(broker_cert_expiry_));
      cert.set({"ca", ""}, static_cast<double>(ca_cert_expiry_));
      for (const auto& [peer, expiry] : peer_ca_expiry_) cert.set({"peer_ca", peer}, static_cast<double>(expiry));
      if (gateway_tls_.ingress) cert.set({"ingress", ""}, static_cast<double>(gateway_tls_.ingress_cert_expiry));
      if (!gateway_tls_.egress.empty()) cert.set({"egress", ""}, static_cast<double>(gateway_tls_.egress_cert_expiry));
    });
  }

  config::Config cfg_;
  SystemClock clock_;
  asio::io_context io_{1};
  asio::thread_pool store_pool_{1};      // the store's only thread: all SQLite work runs here
  asio::thread_pool off_store_pool_{1};  // GET /federate and /api/v1/firewall
  asio::thread_pool lifecycle_pool_{1};  // blocking restarts (peer watchers on reload)
  asio::signal_set signals_{io_};
  asio::steady_timer tick_timer_{io_};
  asio::steady_timer drain_timer_{io_};
  std::chrono::steady_clock::time_point shutdown_deadline_;
  std::chrono::steady_clock::time_point last_inventory_check_{};
  std::chrono::steady_clock::time_point last_catalog_prune_{};
  std::chrono::steady_clock::time_point last_auth_summary_ = std::chrono::steady_clock::now();
  std::atomic<bool> tick_running_{false};
  std::atomic<bool> stopping_{false};  // set on the event loop, read by /readyz on the store thread

  std::mutex mu_;  // guards what reload swaps: tokens, TLS context, certificate expiry
  std::shared_ptr<const api::TokenStore> tokens_;
  std::shared_ptr<http::TlsContext> admin_tls_;
  std::shared_ptr<const pki::PeerTrust> peer_trust_;
  std::shared_ptr<http::TlsContext> peer_tls_;
  std::set<std::string> peer_domains_;
  std::vector<Cidr> peer_sources_;  // every peer's source_cidrs; empty: the peer API admits any source
  federation::IngressAddress ingress_;
  int64_t broker_cert_expiry_ = 0;
  int64_t ca_cert_expiry_ = 0;
  std::map<std::string, int64_t> peer_ca_expiry_;
  uint16_t ingress_bound_port_ = 0;
  gateway::GatewayTls gateway_tls_;
  std::string kuma_token_;

  metrics::Registry metrics_;
  metrics::Family* store_errors_ = nullptr;
  metrics::Family* reloads_ = nullptr;
  metrics::Family* sync_errors_ = nullptr;
  metrics::Family* catalog_refusals_ = nullptr;
  std::unique_ptr<federation::MetricsExporter> metrics_export_;
  std::unique_ptr<federation::MetricsImporter> metrics_import_;
  std::unique_ptr<http::PlainHttpServer> metrics_server_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<controlplane::Adapter> adapter_;
  std::mutex cp_events_mu_;
  std::map<std::string, int64_t> cp_events_seen_;  // adapter event counts already exposed
  controlplane::StaticAdapter* static_ = nullptr;  // the adapter, when static
  controlplane::KumaAdapter* kuma_ = nullptr;      // the adapter, when kuma
  std::unique_ptr<workflow::ExportWorkflow> workflow_;
  std::unique_ptr<federation::ImportManager> imports_;
  std::mutex watchers_mu_;
  std::map<std::string, std::unique_ptr<federation::PeerWatcher>> watchers_;
  std::unique_ptr<api::AdminApi> api_;
  std::unique_ptr<http::HttpsServer> server_;
  std::unique_ptr<federation::Catalog> catalog_;
  std::unique_ptr<api::PeerApi> peer_api_;
  std::unique_ptr<http::HttpsServer> peer_server_;

  gateway::RouteTableHolder routes_{to_unix_ms(SystemClock().now())};
  // Store thread only: whether the routing table needs a full rebuild, and when it last had one.
  bool routes_dirty_ = true;
  std::chrono::steady_clock::time_point last_routes_build_{};
  std::unique_ptr<gateway::GatewayMetrics> gateway_metrics_;
  std::unique_ptr<gateway::IngressGateway> ingress_gw_;
  std::unique_ptr<gateway::EgressGateway> egress_gw_;
};

}  // namespace

Status check_config_files(const config::Config& cfg) {
  auto files = load_files(cfg);
  if (!files) return files.error();
  if (cfg.control_plane.type == config::ControlPlaneType::kStatic) {
    std::ifstream in(cfg.control_plane.static_cp.inventory_file);
    if (!in) {
      return make_error(ErrorCode::kInvalidArgument,
                        "cannot read inventory " + cfg.control_plane.static_cp.inventory_file.string());
    }
    std::stringstream ss;
    ss << in.rdbuf();
    if (auto inv = controlplane::parse_inventory(ss.str()); !inv) return inv.error();
  }
  return {};
}

int run_broker(const std::filesystem::path& config_file) {
  auto cfg = config::load_config(config_file);
  if (!cfg) {
    spdlog::critical("invalid config {}:\n{}", config_file.string(), config::format_errors(cfg.error()));
    return 2;
  }
  Broker broker(std::move(cfg).value());
  return broker.run();
}

}  // namespace meshfed::app
