#include "meshfed/app/broker.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <set>

#include "broker_metrics.hpp"
#include "handshake_guard.hpp"
#include "meshfed/api/admin_api.hpp"
#include "meshfed/api/peer_api.hpp"
#include "meshfed/api/problem.hpp"
#include "meshfed/console/assets.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/serial_executor.hpp"
#include "meshfed/federation/catalog.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/federation/metrics_export.hpp"
#include "meshfed/federation/metrics_import.hpp"
#include "meshfed/firewall/flows.hpp"
#include "meshfed/gateway/gateway.hpp"
#include "meshfed/http/plain_server.hpp"
#include "meshfed/http/server.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/repositories.hpp"
#include "meshfed/store/state_lock.hpp"
#include "meshfed/workflow/audit_archive.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "peer_watchers.hpp"
#include "periodic_jobs.hpp"
#include "replica.hpp"
#include "route_publisher.hpp"
#include "runtime.hpp"
#include "snapshot.hpp"

namespace meshfed::app {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr auto kTick = 200ms;         // expiry resolution ("within a second")
constexpr auto kShutdownGrace = 10s;  // in-flight requests get this long at SIGTERM
constexpr auto kStatusEvery = 2s;     // `systemctl status` shows peers, exports and imports this fresh
constexpr auto kHeartbeat = 5s;       // GET /api/v1/replicas lists replicas heard from in the last minute
constexpr auto kReplicaSeenWithin = 60s;

// Threads, and what each owns:
//   event loop (runtime_): accepting, signals, timers; hands each request to run_request()
//   store_: every SQLite call (the Database checks it), the workflow, imports, catalog, routes,
//           reload; requests are answered here unless run_request says otherwise
//   off_store_: GET /federate and /api/v1/firewall, which need little or no store
//   lifecycle_: blocking restarts (peer watchers on reload, election and step-down)
//   replicas on PostgreSQL: the leadership thread and the change feed's (replica.hpp)
//   the listeners' connection loops, each gateway's workers, each peer watcher, the metrics
//           exporter and importer, the Kuma adapter: their own threads, documented there
// The composition root. It is also what the admin API asks of the broker around it (the small
// interfaces of api/admin_api.hpp), answered from the parts it holds.
class Broker final : public api::Credentials,
                     public api::HealthProbe,
                     public api::PeerSignals,
                     public api::DataPlaneView,
                     public api::MetricsFederation {
 public:
  explicit Broker(std::shared_ptr<const Snapshot> first) : first_(first), snapshot_(std::move(first)) {}

  int run() {
    if (auto st = open_store(); !st) return fail(st.error().message);
    compose();
    if (auto st = listen(); !st) {
      stop();
      return fail(st.error().message);
    }

    if (!leadership_) watchers_->start(*snapshot_.get());  // replicas: once elected
    metrics_export_->start();
    metrics_import_->start();
    if (others_commits_) others_commits_->start();
    if (leadership_) leadership_->start();
    runtime_.every(kTick, store_, [this] { periodic_->run(std::chrono::steady_clock::now()); });
    store_.run([this] { heartbeat(); });  // listed at once, then every kHeartbeat
    runtime_.every(kHeartbeat, store_, [this] { heartbeat(); });
    runtime_.on_reload(store_, [this] { reload(); });
    runtime_.enable_watchdog(store_);
    runtime_.status_every(kStatusEvery, store_, [this] { return status_line(); });
    runtime_.on_stop({.stop_accepting = [this] { stop_accepting(); },
                      .open_connections =
                          [this] {
                            return admin_server_->open_connections() +
                                   (peer_server_ ? peer_server_->open_connections() : 0);
                          }});
    runtime_.run();

    stop();
    spdlog::info("meshfed broker for domain {} stopped", domain());
    return 0;
  }

 private:
  const std::string& domain() const { return first_config().domain; }
  // Restart-only settings (domain, state_dir, listeners) never change after start.
  const config::Config& first_config() const { return first_->config; }

  boost::asio::io_context& io() { return runtime_.io(); }

  int fail(const std::string& why) {
    spdlog::critical("cannot start: {}", why);
    return 1;
  }

  Status open_store() {
    const auto& dir = first_config().state_dir;
    namespace fs = std::filesystem;
    std::error_code ec;
    // Audit and export data: owner-only, whatever the umask. One that exists is the operator's.
    if (fs::create_directories(dir, ec)) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return make_error(ErrorCode::kUnavailable, "cannot create state_dir " + dir.string() + ": " + ec.message());
    if ((fs::status(dir, ec).permissions() & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
      spdlog::warn("state_dir {} is open to other users than its owner; meshfed creates it 0700", dir.string());
    }
    auto lock = store::StateLock::acquire(dir);  // one broker per state, and no restore under it
    if (!lock) return lock.error();
    state_lock_.emplace(std::move(lock).value());
    const auto& store_cfg = first_config().store;
    if (store_cfg.type == config::StoreType::kSqlite) {
      auto db = store::Database::open(dir / "meshfed.db");
      if (!db) return db.error();
      db_ = std::move(db).value();
      return {};
    }
    const std::string& conninfo = first_->store_url;  // restart-only: read once
    auto db = store::Database::open_postgres(conninfo);
    if (!db) return db.error();
    db_ = std::move(db).value();
    leadership_ = std::make_unique<Leadership>(
        store::postgres_leader_lock(conninfo, first_config().replica_id), clock_,
        Leadership::Events{[this](int64_t term) { store_.post([this, term] { elected(term); }); },
                           [this] {
                             adapter_->set_writes(std::nullopt);  // at once: the store thread may be stuck
                             store_.post([this] { deposed(); });
                           }});
    db_->set_leader_term([this] { return leadership_->term(); });
    others_commits_ = std::make_unique<OtherReplicasCommits>(store::postgres_change_feed(conninfo), [this] {
      if (!others_committed_pending_.exchange(true)) store_.post([this] { others_committed(); });
    });
    spdlog::info("store: PostgreSQL (schema version {}), replica {}", db_->schema_version(), first_config().replica_id);
    return {};
  }

  // Whether this broker does its domain's once-per-domain work: it holds a term (elected, not
  // deposed). A lapse of the lease between two confirmations does not stop that work, which
  // would then be missed once the lease runs again; the writes themselves are fenced by the
  // term and its lease (Database::leader_transaction, WriteTerm).
  bool leading() const { return !leadership_ || leadership_->in_term(); }

  // Builds the parts and connects them. Nothing listens yet.
  void compose() {
    const auto& cfg = first_config();
    adapter_ = controlplane::make_adapter(cfg.control_plane, first_->kuma_token);
    // The adapter may apply in the background; when it learns an import's fate, imports ask again.
    adapter_->on_results_changed([this] { store_.post([this] { reconcile_imports(); }); });
    (void)adapter_->refresh_inventory(true);  // a broken file is reported by /readyz
    workflow_ = std::make_unique<workflow::ExportWorkflow>(*db_, clock_, *adapter_, first_->workflow_settings());
    imports_ = std::make_unique<federation::ImportManager>(*db_, clock_, *adapter_, first_->import_settings());
    if (leadership_) {
      // A follower writes nothing to the control plane; elected() hands over the state first.
      imports_->set_leading([this] { return leading(); });
      adapter_->set_writes(std::nullopt);
    }
    broker_metrics_ = std::make_unique<BrokerMetrics>(metrics_, *workflow_, *imports_, *adapter_, snapshot_);
    watchers_ = std::make_unique<PeerWatchers>(*imports_, store_, metrics_);
    routes_ = std::make_unique<RoutePublisher>(
        RoutePublisherDeps{*db_, *adapter_, clock_, [this] { return snapshot_.get()->route_inputs(); },
                           [this] { asio::post(io(), [this] { admin_server_->notify({api::kRoutesWaitKey}); }); },
                           [this] { broker_metrics_->store_error("routes"); }},
        kTick);
    metrics_export_ = std::make_unique<federation::MetricsExporter>(federation::metrics_export_settings(cfg), metrics_,
                                                                    [this] { return exported_metrics_by_peer(); });
    metrics_import_ = std::make_unique<federation::MetricsImporter>(
        first_->metrics_import_settings(), metrics_, [this](const std::string& peer) { return live_aliases(peer); });
    admin_api_ = std::make_unique<api::AdminApi>(
        api::AdminApiDeps{*workflow_, *adapter_, metrics_, *imports_, *this, *this, *this, this, this, &clock_});
    workflow_->set_catalog_listener(
        [this](const std::set<std::string>& peers, const std::set<std::string>& ids) { exports_changed(peers, ids); });
    imports_->set_change_listener([this] { routes_->changed(); });
    adapter_->start();  // last: its results reach the store thread, and from there everything above
    store_.run([this] {
      // The control plane is brought in line with the store before anything else happens.
      reconcile_imports();
      publish_exports();
    });
  }

  // Binds every listener and starts the in-process gateways; then says where (runtime.json).
  Status listen() {
    const auto& cfg = first_config();
    admin_server_ = std::make_unique<http::HttpsServer>(
        io(), [this] { return snapshot_.get()->admin_tls; },
        [this](const http::Request& r) { return admin_api_->handle(r); },
        [](const Error& e) { return api::problem(e); },
        [this](const std::string& path, std::function<void()> job) { run_request(path, std::move(job)); },
        http::ServerLimits{.max_connections_per_source = static_cast<int>(cfg.admin.max_connections_per_source)});
    if (auto st = admin_server_->listen(cfg.admin.listen); !st) return st;
    const config::Endpoint admin_bound{cfg.admin.listen.host, admin_server_->port()};
    std::optional<config::Endpoint> peer_bound;
    if (cfg.peer_api.listen) {
      if (auto st = start_peer_api(); !st) return st;
      peer_bound = config::Endpoint{cfg.peer_api.listen->host, peer_server_->port()};
      spdlog::info("peer API on https://{}/federation/v1/ (TLS 1.3, client certificates of {} peers)",
                   peer_bound->to_string(), cfg.peers.size());
    }
    if (auto st = start_gateways(); !st) return st;
    if (auto st = start_metrics_listener(); !st) return st;
    periodic_ = std::make_unique<PeriodicJobs>(
        PeriodicJobsDeps{*workflow_, *imports_, catalog_.get(), *adapter_, *routes_,
                         [this] {
                           routes_->changed();  // targets may have come or gone
                           publish_exports();
                         },
                         [this] { return admin_api_->take_auth_failures(); },
                         [this](const std::string& op) { broker_metrics_->store_error(op); },
                         [this] { return leading(); }, db_.get(),
                         [this] { return snapshot_.get()->config.retention.withdrawn_imports_days; },
                         [this] { archive_audit(); }},
        std::chrono::steady_clock::now());
    admin_address_ = admin_bound.to_string();
    leader_gauge_.set({}, leading() ? 1 : 0);
    write_runtime_file(admin_bound, peer_bound);
    record("broker.started", {{"admin", admin_bound.to_string()}, {"schema_version", db_->schema_version()}});
    started_ = true;
    spdlog::info("meshfed {} broker for domain {} ready: admin API https://{}/api/v1/", MESHFED_VERSION, domain(),
                 admin_bound.to_string());
    return {};
  }

  // After the runtime has returned, or a failed start: every part stops before what it uses does.
  void stop() {
    others_commits_.reset();               // it posts to the store thread
    if (leadership_) leadership_->stop();  // another replica may take over while this one drains
    if (ingress_gw_) ingress_gw_->stop();
    if (egress_gw_) egress_gw_->stop();
    if (adapter_) adapter_->stop();  // before the store thread its listener posts to ends
    lifecycle_.join();               // a restart of the watchers in progress ends first
    watchers_->stop();               // they may be waiting on the store thread, which still runs
    metrics_export_->stop();
    metrics_import_->stop();
    if (started_) record("broker.stopped", nlohmann::json::object());
    store_.join();
    off_store_.join();
  }

  // The gateways that run inside the broker (`enabled: true`), on their own threads so that
  // proxied bytes never queue behind API requests.
  Status start_gateways() {
    const auto s = snapshot_.get();
    const auto& g = s->config.gateways;
    gateway_metrics_ = std::make_unique<gateway::GatewayMetrics>(metrics_);
    if (g.ingress && g.ingress->enabled) {
      ingress_gw_ =
          std::make_unique<gateway::IngressGateway>(*gateway_metrics_, gateway::GatewayLimits::from(g.ingress->tuning));
      if (auto st = ingress_gw_->listen(g.ingress->listen); !st) return st;
      ingress_gw_->set_tls(s->gateways.ingress, s->gateways.ingress_callers);
      ingress_bound_port_ = ingress_gw_->port();
      spdlog::info("ingress gateway on {}:{} (TLS 1.3, client certificates of peers' egress)", g.ingress->listen.host,
                   ingress_gw_->port());
    }
    if (g.egress && g.egress->enabled) {
      egress_gw_ =
          std::make_unique<gateway::EgressGateway>(*gateway_metrics_, gateway::GatewayLimits::from(g.egress->tuning));
      egress_gw_->set_tls(s->gateways.egress);
      // A port another program holds: the import manager moves the import (store thread).
      egress_gw_->on_listen_refused([this](const std::string& id, uint16_t port, const std::string& error) {
        store_.post([this, id, port, error] {
          if (auto st = imports_->egress_port_refused(id, port, error); !st) {
            spdlog::error("imports: {}", st.error().message);
          }
        });
      });
    }
    routes_->attach(ingress_gw_.get(), egress_gw_.get());
    return {};
  }

  // Where peers reach our ingress, as the catalog tells them. An advertised port 0 is the
  // port the in-process ingress bound (tests, demos).
  federation::IngressAddress ingress_address() const {
    const auto s = snapshot_.get();
    if (!s->ingress_advertised) return {};
    const auto& ep = *s->ingress_advertised;
    return {ep.host, ep.port ? ep.port : ingress_bound_port_.load()};
  }

  Status start_peer_api() {
    catalog_ = std::make_unique<federation::Catalog>(*db_, clock_);
    peer_api_ = std::make_unique<api::PeerApi>(
        api::PeerApiDeps{*catalog_, metrics_, [this] { return domain(); }, [this] { return ingress_address(); },
                         [this](const std::string& peer) { return snapshot_.get()->peer_domains.count(peer) > 0; },
                         [this](const std::string& peer) { return imports_->is_quarantined(peer); },
                         [this](const std::string& peer) { return metrics_export_->text_for(peer); }});
    peer_server_ = std::make_unique<http::HttpsServer>(
        io(), [this] { return snapshot_.get()->peer_tls; },
        [this](const http::Request& r) { return peer_api_->handle(r); }, [](const Error& e) { return api::problem(e); },
        [this](const std::string& path, std::function<void()> job) { run_request(path, std::move(job)); });
    peer_guard_ = std::make_unique<HandshakeGuard>(
        clock_, "peer",
        metrics_.counter("meshfed_peer_api_handshake_failures_total",
                         "TLS handshakes that failed on the peer API (unknown or impostor certificates, no "
                         "certificate, old TLS, timeouts), by reason.",
                         {"reason"}),
        admin_api_->auth_failures_metric());
    peer_server_->set_source_filter([this](const std::string& address) {
      return snapshot_.get()->source_admitted(address) && peer_guard_->admits(address);
    });
    peer_server_->set_identity([this](ssl_st* ssl) { return snapshot_.get()->peer_trust->peer_of(ssl); });
    peer_server_->on_handshake_failure(
        [this](const http::HttpsServer::HandshakeFailure& failure) { peer_guard_->failed(failure); });
    return peer_server_->listen(*first_config().peer_api.listen);
  }

  // `metrics.listen`: /metrics and /federate for scrapers that should not reach the admin API,
  // answered by the same handlers as on the admin listener.
  Status start_metrics_listener() {
    const auto& listen = first_config().metrics.listen;
    if (!listen) return {};
    metrics_server_ = std::make_unique<http::PlainHttpServer>(
        io(),
        [this](const http::Request& r) {
          if (r.path == "/metrics" || r.path == "/federate") return admin_api_->handle(r);
          return api::problem(404, "only /metrics and /federate are served here");
        },
        [this](const std::string& path, std::function<void()> job) { run_request(path, std::move(job)); });
    if (auto st = metrics_server_->listen(*listen); !st) return st;
    spdlog::info("metrics on http://{}:{}/metrics and /federate", listen->host, metrics_server_->port());
    return {};
  }

  void write_runtime_file(const config::Endpoint& admin, const std::optional<config::Endpoint>& peer_api) {
    // Lets scripts and tests find the ports chosen when listening on port 0.
    const auto& dir = first_config().state_dir;
    {
      std::ofstream out(dir / "runtime.json.tmp");
      nlohmann::json j = {{"pid", ::getpid()}, {"admin", admin.to_string()}};
      if (peer_api) j["peer_api"] = peer_api->to_string();
      if (ingress_gw_)
        j["ingress"] = config::Endpoint{first_config().gateways.ingress->listen.host, ingress_gw_->port()}.to_string();
      out << j.dump() << "\n";
    }
    std::filesystem::rename(dir / "runtime.json.tmp", dir / "runtime.json");
  }

  // Where a request is answered: on the store thread, except /federate, which needs no store and
  // must not hold SQLite work up while it formats a hundred thousand series, and the firewall
  // rules, which resolve host names (and read the store through store_.run).
  void run_request(const std::string& path, std::function<void()> job) {
    // The console's files need no store; /federate and the firewall must not wait on it.
    if (path == "/federate" || path == "/api/v1/firewall" || console::owns(path)) {
      off_store_.post(std::move(job));
    } else {
      store_.post(std::move(job));
    }
  }

  // --- reactions, on the store thread ---------------------------------------------------------

  // After a commit that changed exports: an in-process ingress gets their routes first, so that
  // no peer hears of an export before our ingress admits it; then the peers whose catalog view
  // changed are woken.
  void exports_changed(const std::set<std::string>& peers, const std::set<std::string>& export_ids) {
    publish_exports();
    metrics_export_->exports_changed();
    routes_->exports_changed(export_ids);
    if (!peer_server_) return;
    asio::post(io(),
               [this, keys = std::vector<std::string>(peers.begin(), peers.end())] { peer_server_->notify(keys); });
  }

  // Control planes that authorise exports (Kuma) get every approved export.
  void publish_exports() {
    if (!adapter_->authorizes_exports() || !leading()) return;
    std::vector<controlplane::DesiredExport> out;
    const auto inv = adapter_->inventory();
    const auto listed = workflow_->for_each_approved([&](const store::ExportRecord& e) {
      const auto* svc = inv->find(e.mesh, e.service, e.zone);
      out.push_back({e.id, e.mesh, e.service, e.zone, e.port, svc && svc->from_dataplanes});
    });
    if (listed) {
      adapter_->set_exports(std::move(out));
    } else {
      broker_metrics_->store_error("exports");
    }
  }

  // Audit entries past their retention go to archive segments (store thread, leader).
  void archive_audit() {
    const auto& cfg = snapshot_.get()->config;
    if (cfg.retention.audit_days == 0) return;
    const workflow::AuditArchiveSettings settings{cfg.retention.archive_dir_in(cfg.state_dir),
                                                  cfg.retention.audit_days};
    if (auto made = workflow::archive_audit(*db_, clock_.now(), settings); !made) {
      broker_metrics_->store_error("audit_archive");
      spdlog::error("audit: cannot archive entries older than {} days: {}", settings.days, made.error().message);
    }
  }

  void reconcile_imports() {
    if (auto st = imports_->reconcile(); !st) spdlog::error("imports: {}", st.error().message);
  }

  // --- replicas (store thread) -----------------------------------------------------------------

  // This replica now leads under `term`: the control plane gets the desired state before writes
  // are turned on (a follower's is empty and would withdraw everything), then the watchers
  // start. Writes stay fenced by the term: if it ends while this runs, none of them goes.
  void elected(int64_t term) {
    if (!leadership_->holds(term)) return;  // stepped down again before this ran
    leader_gauge_.set({}, 1);
    reconcile_imports();
    publish_exports();
    adapter_->set_writes(controlplane::WriteTerm{term, [this, term] { return leadership_->confirm_term(term); },
                                                 [this, term] { return leadership_->may_write(term); }});
    heartbeat();  // the replica list names the new leader at once
    (void)workflow_->record_event(workflow::kSystemActor, "replica.elected", "broker/" + domain(),
                                  {{"replica", first_config().replica_id}, {"term", term}});
    restart_watchers();
  }

  // (The control plane's writes were turned off on the leadership thread already.)
  void deposed() {
    leader_gauge_.set({}, 0);
    restart_watchers();  // stops them: this replica no longer leads
  }

  // Another replica committed: what this one derives from the shared state is brought up to
  // date as if the commit had been its own (routes, metrics selections, peers' long-polls; the
  // control plane on the leader). Coalesced: one run answers every commit before it.
  void others_committed() {
    others_committed_pending_ = false;
    routes_->changed();
    metrics_export_->exports_changed();
    publish_exports();
    reconcile_imports();
    if (!peer_server_) return;
    const auto& peers = snapshot_.get()->peer_domains;
    asio::post(io(),
               [this, keys = std::vector<std::string>(peers.begin(), peers.end())] { peer_server_->notify(keys); });
  }

  // A broker on SQLite is its domain's only one: it lists itself without writing (an fsync
  // every few seconds, forever, for a list of one).
  store::ReplicaRecord self() const {
    return {first_config().replica_id, admin_address_, leading(), to_unix_ms(clock_.now())};
  }

  void heartbeat() {
    if (admin_address_.empty() || !leadership_) return;  // not listening yet, or on SQLite
    const store::ReplicaRecord self = this->self();
    if (auto st = db_->autocommit([&]() -> Status {
          store::ReplicaRepository(*db_).heartbeat(self);
          return {};
        });
        !st) {
      broker_metrics_->store_error("heartbeat");
    }
  }

  Result<std::vector<store::ReplicaRecord>> replicas() override {
    if (!leadership_) return std::vector<store::ReplicaRecord>{self()};
    std::vector<store::ReplicaRecord> out;
    const int64_t since = to_unix_ms(clock_.now() - kReplicaSeenWithin);
    if (auto st = db_->read([&]() -> Status {
          out = store::ReplicaRepository(*db_).seen_since(since);
          return {};
        });
        !st) {
      return st.error();
    }
    return out;
  }

  // After a quarantine or release: our watcher of that peer and the peer's own long-polls on
  // our peer API react at once (a waiting long-poll re-evaluates and is refused).
  void peer_changed(const std::string& peer) override {
    routes_->changed();
    watchers_->wake(peer);
    if (peer_server_) asio::post(io(), [this, peer] { peer_server_->notify({peer}); });
  }

  api::Readiness readiness() override {
    api::Readiness r;
    auto head = workflow_->audit_head();
    const auto& write_failure = db_->write_failure();
    r.checks["store"] = write_failure ? "cannot write: " + *write_failure : head ? "ok" : head.error().message;
    const auto h = adapter_->health();
    r.checks["inventory"] = h.detail;
    r.checks["replica"] = leading() ? "leader" : "follower";
    // An import with an egress port that nothing of ours listens on (in this process), or that
    // the separate egress process has not confirmed yet.
    const auto unbound = egress_gw_ ? egress_gw_->unbound() : std::map<std::string, std::string>{};
    const size_t awaiting = imports_->awaiting_egress();
    if (!unbound.empty()) {
      r.checks["egress"] = "import " + unbound.begin()->first + " has no listener (" + unbound.begin()->second + "), " +
                           std::to_string(unbound.size()) + " in all";
    } else if (awaiting > 0) {
      r.checks["egress"] = std::to_string(awaiting) + " imports wait for the egress gateway to listen";
    } else {
      r.checks["egress"] = "ok";
    }
    r.ready = head.ok() && !write_failure && h.ready && unbound.empty() && awaiting == 0 && !runtime_.stopping();
    if (runtime_.stopping()) r.checks["broker"] = "stopping";
    return r;
  }

  std::shared_ptr<const api::TokenStore> tokens() const override { return snapshot_.get()->tokens; }
  std::shared_ptr<const gateway::RoutingTable> routes() override { return routes_->on_demand(); }
  Result<std::string> federate(const std::vector<std::string>& match) override {
    return metrics_import_->federate(match);
  }

  // What `systemctl status` shows (STATUS=), on the store thread.
  std::string status_line() {
    const auto exports = workflow_->count_by_state();
    const auto peers = imports_->peers();
    if (!exports || !peers) return "store unavailable";
    int64_t connected = 0, imports_active = 0;
    for (const auto& p : *peers) {
      connected += p.state == federation::PeerState::kConnected;
      if (const auto it = p.imports.find("active"); it != p.imports.end()) imports_active += it->second;
    }
    const auto approved = exports->find("approved");
    return std::to_string(connected) + "/" + std::to_string(peers->size()) + " peers connected, " +
           std::to_string(approved == exports->end() ? 0 : approved->second) + " exports approved, " +
           std::to_string(imports_active) + " imports active";
  }

  // --- questions from other threads, answered on the store thread ------------------------------

  // What each peer's metrics selection starts from: its unexpired approved exports that name
  // metrics (the exporter's thread). Only those are read: with 100,000 exports a walk over all
  // of them held the store thread (and with it every peer's long-poll) for 150 ms at each change.
  federation::ExportedMetricsByPeer exported_metrics_by_peer() {
    federation::ExportedMetricsByPeer out;
    store_.run([&] {
      auto selections = workflow_->metric_selections();
      if (!selections) return broker_metrics_->store_error("exports");
      for (auto& m : *selections) out[m.peer].push_back({m.service, m.alias, std::move(m.metrics)});
    });
    return out;
  }

  // The aliases of our live imports from `peer` (the metrics importer's thread).
  std::set<std::string> live_aliases(const std::string& peer) {
    std::set<std::string> aliases;
    store_.run([&] {
      if (auto a = imports_->live_aliases(peer)) {
        aliases = std::move(a).value();
      } else {
        broker_metrics_->store_error("metrics");
      }
    });
    return aliases;
  }

  // GET /api/v1/firewall (the off-store thread): the store is read on its thread, the names are
  // resolved here, so a slow resolver holds up no SQLite work.
  Result<firewall::FlowSet> firewall_flows(firewall::Mode mode) override {
    std::optional<Result<firewall::FlowState>> state;
    if (!store_.run([&] { state = firewall::load_flow_state(*db_); }))
      return make_error(ErrorCode::kUnavailable, "the broker is stopping");
    if (!*state) return state->error();
    return firewall::compute_flows(snapshot_.get()->config, **state, mode, firewall::resolve_host);
  }

  // Audits a broker life-cycle event (start and stop, when nothing else runs on the store).
  void record(const std::string& action, nlohmann::json details) {
    store_.run([&] {
      if (auto st = workflow_->record_event(workflow::kSystemActor, action, "broker/" + domain(), std::move(details));
          !st) {
        spdlog::error("audit: cannot record {}: {}", action, st.error().message);
      }
    });
  }

  // At a stop (event loop): listeners take no new connections; what is in flight drains.
  void stop_accepting() {
    admin_server_->stop();
    if (peer_server_) peer_server_->stop();
    if (metrics_server_) metrics_server_->stop();
  }

  // --- reload (store thread) -------------------------------------------------------------------

  // SIGHUP: the new config and every file it names are loaded and checked into a new snapshot,
  // then published whole, and each part is told; or nothing changes.
  void reload() {
    const auto running = snapshot_.get();
    spdlog::info("reloading {}", running->config.file.string());
    auto reject = [&](const std::string& why) {
      spdlog::error("reload rejected, keeping the running config: {}", why);
      broker_metrics_->reload("rejected");
      (void)workflow_->record_event(workflow::kSystemActor, "config.reload_rejected", "config/" + domain(),
                                    {{"error", why}});
    };
    auto fresh = config::load_config(running->config.file);
    if (!fresh) return reject(config::format_errors(fresh.error()));
    if (fresh->control_plane.type != running->config.control_plane.type)
      return reject("control_plane.type changes only at restart");
    if (auto st = check_static_inventory(*fresh); !st) return reject(st.error().message);
    const auto ignored = restart_only_changes(running->config, *fresh);
    auto next = load_snapshot(keep_restart_only(running->config, std::move(fresh).value()));
    if (!next) return reject(config::format_errors(next.error()));
    for (const auto& key : ignored) spdlog::warn("reload: {} changed; it takes effect only at restart", key);
    snapshot_.publish(*next);
    apply(**next);
    broker_metrics_->reload("applied");
    (void)workflow_->record_event(workflow::kSystemActor, "config.reloaded", "config/" + domain(),
                                  {{"restart_required_for", ignored}});
    spdlog::info("reload applied");
  }

  // Tells each part what a newly published snapshot changed for it.
  void apply(const Snapshot& s) {
    if (ingress_gw_) ingress_gw_->set_tls(s.gateways.ingress, s.gateways.ingress_callers);
    if (egress_gw_) egress_gw_->set_tls(s.gateways.egress);
    adapter_->reconfigure(s.config.control_plane, s.kuma_token);
    (void)adapter_->refresh_inventory(true);
    workflow_->update_settings(s.workflow_settings());
    if (auto st = imports_->update_settings(s.import_settings()); !st) {
      spdlog::error("reload: imports: {}", st.error().message);
    }
    metrics_export_->reconfigure(federation::metrics_export_settings(s.config));
    metrics_import_->reconfigure(s.metrics_import_settings());
    routes_->changed();
    if (catalog_) {
      std::set<std::string> peers;
      for (const auto& p : s.config.peers) peers.insert(p.domain);
      catalog_->keep_answers_only_for(peers);  // a removed peer's kept snapshot goes with it
    }
    if (peer_server_) peer_server_->revalidate_peers();  // what a removed or replaced CA admitted ends
    restart_watchers();
  }

  // The peer watchers from the current snapshot, on the leader only. Watchers wait on the store
  // thread, and joining one can take as long as its current call: they are restarted on the
  // lifecycle thread, never on the store thread nor on the event loop.
  void restart_watchers() {
    lifecycle_.post([this, snapshot = snapshot_.get()] {
      watchers_->stop();
      if (leading()) watchers_->start(*snapshot);
    });
  }

  const std::shared_ptr<const Snapshot> first_;  // as started: restart-only settings come from here
  PublishedSnapshot snapshot_;                   // as of the last reload
  SystemClock clock_;
  SerialExecutor store_{"meshfed-store"};
  SerialExecutor off_store_{"meshfed-offstore"};
  SerialExecutor lifecycle_{"meshfed-lifecycl"};
  Runtime runtime_{kShutdownGrace};  // claims the signals as the broker is made

  metrics::Registry metrics_;
  std::optional<store::StateLock> state_lock_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<controlplane::Adapter> adapter_;
  std::unique_ptr<workflow::ExportWorkflow> workflow_;
  std::unique_ptr<federation::ImportManager> imports_;
  std::unique_ptr<BrokerMetrics> broker_metrics_;
  std::unique_ptr<PeerWatchers> watchers_;
  std::unique_ptr<RoutePublisher> routes_;
  std::unique_ptr<federation::MetricsExporter> metrics_export_;
  std::unique_ptr<federation::MetricsImporter> metrics_import_;
  std::unique_ptr<api::AdminApi> admin_api_;
  std::unique_ptr<http::HttpsServer> admin_server_;
  std::unique_ptr<federation::Catalog> catalog_;
  std::unique_ptr<api::PeerApi> peer_api_;
  std::unique_ptr<HandshakeGuard> peer_guard_;
  std::unique_ptr<http::HttpsServer> peer_server_;
  std::unique_ptr<http::PlainHttpServer> metrics_server_;
  std::unique_ptr<PeriodicJobs> periodic_;
  std::unique_ptr<gateway::GatewayMetrics> gateway_metrics_;
  std::unique_ptr<gateway::IngressGateway> ingress_gw_;
  std::unique_ptr<gateway::EgressGateway> egress_gw_;
  std::atomic<uint16_t> ingress_bound_port_{0};
  std::unique_ptr<Leadership> leadership_;                // replicas on PostgreSQL only
  std::unique_ptr<OtherReplicasCommits> others_commits_;  // likewise
  std::atomic<bool> others_committed_pending_{false};
  metrics::Family& leader_gauge_ = metrics_.gauge(
      "meshfed_replica_leader", "1 while this broker leads its domain (always, with one broker on SQLite).");
  std::string admin_address_;  // host:port, for the replica list
  bool started_ = false;       // broker.started is in the audit log
};

}  // namespace

Status check_config_files(const config::Config& cfg) {
  if (auto snapshot = load_snapshot(cfg); !snapshot) return snapshot.error();
  return check_static_inventory(cfg);
}

int run_broker(const std::filesystem::path& config_file) {
  auto cfg = config::load_config(config_file);
  if (!cfg) {
    spdlog::critical("invalid config {}:\n{}", config_file.string(), config::format_errors(cfg.error()));
    return 2;
  }
  auto snapshot = load_snapshot(std::move(cfg).value());
  if (!snapshot) {
    spdlog::critical("cannot start: {}", config::format_errors(snapshot.error()));
    return 1;
  }
  Broker broker(std::move(snapshot).value());
  return broker.run();
}

}  // namespace meshfed::app
