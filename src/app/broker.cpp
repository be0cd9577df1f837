#include "meshfed/app/broker.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "health.hpp"
#include "listeners.hpp"
#include "meshfed/store/state_lock.hpp"
#include "parts.hpp"
#include "reactions.hpp"
#include "reload.hpp"
#include "replica_reactions.hpp"

namespace meshfed::app {
namespace {

using namespace std::chrono_literals;

constexpr auto kStatusEvery = 2s;  // `systemctl status` shows peers, exports and imports this fresh
constexpr auto kHeartbeat = 5s;    // GET /api/v1/replicas lists replicas heard from in the last minute
// Separate ingress processes whose last denial totals are remembered (one per restart of each).
constexpr size_t kMostIngressInstances = 16;

// The composition root: it builds the parts (parts.hpp) in dependency order, connects them,
// starts and stops them. What happens afterwards is answered by the parts and by the pieces
// that react on the broker's behalf, each in its own file.
class Broker {
 public:
  explicit Broker(std::shared_ptr<const Snapshot> first) : p_(std::move(first)) {}
  // A connection still open after the drain may run a handler, which reaches the pieces below
  // p_: the listeners go before them.
  ~Broker() {
    p_.metrics_server.reset();
    p_.peer_server.reset();
    p_.admin_server.reset();
  }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  int run() {
    if (auto st = open_store(); !st) return fail(st.error().message);
    Status peerings;
    p_.store.run([&] { peerings = reloader_.add_peerings_at_start(); });
    if (!peerings) return fail("the peers added through the API: " + config::format_errors(peerings.error()));
    compose();
    // Before the peer API shows our head: what the peers witnessed of our log is still what
    // they answer, whatever happened to it while we were down.
    p_.witness_watch->check_now();
    if (auto st = listen(); !st) {
      stop();
      return fail(st.error().message);
    }

    if (!p_.leadership) p_.watchers->start(*p_.snapshot.get());  // replicas: once elected
    p_.metrics_export->start();
    p_.metrics_import->start();
    p_.witness_watch->start();
    if (p_.others_commits) p_.others_commits->start();
    if (p_.leadership) p_.leadership->start();
    p_.runtime.every(kTick, p_.store, [this] { p_.periodic->run(std::chrono::steady_clock::now()); });
    p_.store.run([this] { replicas_.heartbeat(); });  // listed at once, then every kHeartbeat
    p_.runtime.every(kHeartbeat, p_.store, [this] { replicas_.heartbeat(); });
    p_.runtime.on_reload(p_.store, [this] { reloader_.reload(); });
    p_.runtime.enable_watchdog(p_.store);
    p_.runtime.status_every(kStatusEvery, p_.store, [this] { return health_.status_line(); });
    p_.runtime.on_stop({.stop_accepting = [this] { listeners_.stop_accepting(); },
                        .open_connections = [this] { return listeners_.open_connections(); }});
    p_.runtime.run();

    stop();
    spdlog::info("meshfed broker for domain {} stopped", p_.domain());
    return 0;
  }

 private:
  int fail(const std::string& why) {
    spdlog::critical("cannot start: {}", why);
    return 1;
  }

  Status open_store() {
    const auto& dir = p_.first_config().state_dir;
    namespace fs = std::filesystem;
    std::error_code ec;
    // Audit and export data: owner-only, whatever the umask. One that exists is the operator's.
    if (fs::create_directories(dir, ec)) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return make_error(ErrorCode::kUnavailable, "cannot create state_dir " + dir.string() + ": " + ec.message());
    if ((fs::status(dir, ec).permissions() & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
      spdlog::warn("state_dir {} is open to other users than its owner; meshfed creates it 0700", dir.string());
    }
    // One broker per state, and no restore under it.
    MESHFED_ASSIGN_OR_RETURN(auto lock, store::StateLock::acquire(dir));
    p_.state_lock.emplace(std::move(lock));
    const int readers = p_.first_config().store.pool_size;
    if (p_.first_config().store.type == config::StoreType::kSqlite) {
      MESHFED_ASSIGN_OR_RETURN(auto db, store::Database::open(dir / "meshfed.db"));
      p_.db = std::move(db);
      MESHFED_ASSIGN_OR_RETURN(auto pool, store::ReadPool::open_sqlite(dir / "meshfed.db", readers));
      p_.reads = std::move(pool);
      return {};
    }
    const std::string& conninfo = p_.first->store_url;  // restart-only: read once
    MESHFED_ASSIGN_OR_RETURN(auto db, store::Database::open_postgres(conninfo));
    p_.db = std::move(db);
    MESHFED_ASSIGN_OR_RETURN(auto pool, store::ReadPool::open_postgres(conninfo, readers));
    p_.reads = std::move(pool);
    p_.leadership = std::make_unique<Leadership>(
        store::postgres_leader_lock(conninfo, p_.first_config().replica_id), p_.clock,
        Leadership::Events{[this](int64_t term) { p_.store.post([this, term] { replicas_.elected(term); }); },
                           [this] {
                             p_.adapter->set_writes(std::nullopt);  // at once: the store thread may be stuck
                             p_.store.post([this] { replicas_.deposed(); });
                           }});
    p_.db->set_leader_term([this] { return p_.leadership->term(); });
    p_.others_commits = std::make_unique<OtherReplicasCommits>(store::postgres_change_feed(conninfo),
                                                               [this] { replicas_.others_committed(); });
    spdlog::info("store: PostgreSQL (schema version {}), replica {}", p_.db->schema_version(),
                 p_.first_config().replica_id);
    return {};
  }

  // Builds the parts and connects them. Nothing listens yet.
  void compose() {
    const auto settings = p_.snapshot.get();  // the file's config with the peers added through the API
    const auto& cfg = settings->config;
    p_.adapter = controlplane::make_adapter(cfg.control_plane, settings->kuma_token);
    // The adapter may apply in the background; when it learns an import's fate, imports ask again.
    p_.adapter->on_results_changed([this] { p_.store.post([this] { reactions_.reconcile_imports(); }); });
    (void)p_.adapter->refresh_inventory(true);  // a broken file is reported by /readyz
    p_.workflow = std::make_unique<workflow::ExportWorkflow>(*p_.db, p_.clock, *p_.adapter,
                                                             settings->workflow_settings(), p_.reads.get());
    p_.imports = std::make_unique<federation::ImportManager>(*p_.db, p_.clock, *p_.adapter, settings->import_settings(),
                                                             &p_.control_plane);
    if (p_.leadership) {
      // A follower writes nothing to the control plane; elected() hands over the state first.
      p_.imports->set_leading([this] { return p_.leading(); });
      p_.adapter->set_writes(std::nullopt);
    }
    p_.peerings = std::make_unique<peering::Peerings>(
        *p_.db, p_.clock, p_.domain(),
        [this] {
          std::set<std::string> in_file;
          for (const auto& peer : p_.snapshot.get()->config.peers) {
            if (!peer.added_through_api) in_file.insert(peer.domain);
          }
          return in_file;
        },
        [this](const std::vector<store::PeeringRecord>& peerings) { return reloader_.accepts(peerings); });
    p_.peerings->set_change_listener([this] { reloader_.peerings_changed(); });
    p_.broker_metrics =
        std::make_unique<BrokerMetrics>(p_.metrics, *p_.workflow, *p_.imports, *p_.adapter, p_.snapshot, *p_.peerings);
    auto signer = [this] { return p_.snapshot.get()->signer; };
    p_.audit_head = std::make_unique<federation::AuditHeadSigner>(p_.domain(), signer);
    p_.witness_book =
        std::make_unique<federation::WitnessBook>(*p_.db, p_.clock, p_.metrics, p_.domain(), signer,
                                                  [this] { return p_.snapshot.get()->config.retention.witness_days; });
    p_.witness_watch = std::make_unique<WitnessWatch>(p_);
    p_.watchers = std::make_unique<PeerWatchers>(*p_.imports, *p_.witness_book, p_.store, p_.metrics);
    p_.routes = std::make_unique<RoutePublisher>(
        RoutePublisherDeps{
            *p_.db, *p_.adapter, p_.clock, [this] { return p_.snapshot.get()->route_inputs(); },
            [this] { boost::asio::post(p_.runtime.io(), [this] { p_.admin_server->notify({api::kRoutesWaitKey}); }); },
            [this] { p_.broker_metrics->store_error("routes"); }},
        kTick);
    p_.metrics_export = std::make_unique<federation::MetricsExporter>(
        federation::metrics_export_settings(cfg), p_.metrics, [this] { return reactions_.exported_metrics_by_peer(); });
    p_.metrics_import = std::make_unique<federation::MetricsImporter>(
        settings->metrics_import_settings(), p_.metrics,
        [this](const std::string& peer) { return reactions_.live_aliases(peer); });
    // Before the API: a separate ingress reports its denials into the family the broker's own
    // ingress counts in.
    p_.gateway_metrics = std::make_unique<gateway::GatewayMetrics>(p_.metrics);
    p_.l7_reports = std::make_unique<metrics::CounterReports>(p_.gateway_metrics->l7_denied, kMostIngressInstances);
    p_.admin_api = std::make_unique<api::AdminApi>(
        api::AdminApiDeps{*p_.workflow, *p_.adapter, p_.metrics, *p_.imports, p_.snapshot, health_, replicas_,
                          *p_.metrics_import, &reactions_, p_.routes.get(), &firewall_, &p_.clock, &bundle_,
                          p_.peerings.get(), p_.l7_reports.get(), p_.witness_watch.get()});
    p_.workflow->set_catalog_listener([this](const std::set<std::string>& peers, const std::set<std::string>& ids) {
      reactions_.exports_changed(peers, ids);
    });
    p_.imports->set_change_listener([this] { p_.routes->changed(); });
    p_.adapter->start();  // last: its results reach the store thread, and from there everything above
    p_.store.run([this] {
      // The control plane is brought in line with the store before anything else happens.
      reactions_.reconcile_imports();
      reactions_.publish_exports();
    });
  }

  // Binds every listener and starts the in-process gateways and the periodic jobs.
  Status listen() {
    MESHFED_RETURN_IF_ERROR(listeners_.open());
    p_.periodic = std::make_unique<PeriodicJobs>(
        PeriodicJobsDeps{*p_.workflow, *p_.imports, p_.catalog.get(), *p_.adapter, *p_.routes,
                         [this] {
                           p_.routes->changed();  // targets may have come or gone
                           reactions_.publish_exports();
                         },
                         [this] { return p_.admin_api->take_auth_failures(); },
                         [this](const std::string& op) { p_.broker_metrics->store_error(op); },
                         [this] { return p_.leading(); }, p_.db.get(),
                         [this] { return p_.snapshot.get()->config.retention.withdrawn_imports_days; },
                         [this] { reactions_.archive_audit(); }},
        std::chrono::steady_clock::now());
    p_.leader_gauge.set({}, p_.leading() ? 1 : 0);
    record("broker.started", {{"admin", p_.admin_address}, {"schema_version", p_.db->schema_version()}});
    started_ = true;
    spdlog::info("meshfed {} broker for domain {} ready: admin API https://{}/api/v1/", MESHFED_VERSION, p_.domain(),
                 p_.admin_address);
    return {};
  }

  // After the runtime has returned, or a failed start: every part stops before what it uses does.
  void stop() {
    p_.others_commits.reset();                 // it posts to the store thread
    if (p_.leadership) p_.leadership->stop();  // another replica may take over while this one drains
    if (p_.ingress_gw) p_.ingress_gw->stop();
    if (p_.egress_gw) p_.egress_gw->stop();
    if (p_.adapter) p_.adapter->stop();  // before the store thread its listener posts to ends
    p_.lifecycle.join();                 // a restart of the watchers in progress ends first
    p_.watchers->stop();                 // they may be waiting on the store thread, which still runs
    p_.metrics_export->stop();
    p_.metrics_import->stop();
    p_.witness_watch->stop();  // it may be waiting on the store thread, which still runs
    if (started_) record("broker.stopped", nlohmann::json::object());
    p_.store.join();
    p_.off_store.join();
  }

  // Audits a broker life-cycle event (start and stop, when nothing else runs on the store).
  void record(const std::string& action, nlohmann::json details) {
    p_.store.run([&] {
      if (auto st =
              p_.workflow->record_event(workflow::kSystemActor, action, "broker/" + p_.domain(), std::move(details));
          !st) {
        spdlog::error("audit: cannot record {}: {}", action, st.error().message);
      }
    });
  }

  BrokerParts p_;  // first: the pieces below refer to it
  StoreReactions reactions_{p_};
  Reloader reloader_{p_};
  ReplicaReactions replicas_{p_, reactions_, reloader_};
  BrokerHealth health_{p_};
  FirewallFlows firewall_{p_};
  PeeringBundle bundle_{p_};
  Listeners listeners_{p_};
  bool started_ = false;  // broker.started is in the audit log
};

}  // namespace

Status check_config_files(const config::Config& cfg) {
  MESHFED_RETURN_IF_ERROR(load_snapshot(cfg));
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
