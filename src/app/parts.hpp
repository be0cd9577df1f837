// What a broker is made of: every part, built by the composition root (broker.cpp) in
// dependency order and destroyed in the reverse, and shared by reference with the pieces that
// react on the broker's behalf (reactions.hpp, replica_reactions.hpp, reload.hpp, health.hpp,
// listeners.hpp). A piece keeps no part of its own: what it reaches is here.
//
// Threads, and what each owns:
//   event loop (runtime): accepting, signals, timers; hands each request to its route's executor
//   store: every write to the store (the Database checks it), the workflow, imports, routes,
//          reload, the reactions; requests are answered here unless their route says otherwise
//   off_store: GET /federate, /api/v1/firewall, the console's files, and peer API catalogs that
//          must be built; they read through the read pool (`reads`, any thread) if at all
//   the peer API's connection loops: catalogs kept or unchanged, read through the read pool
//   control_plane: hands a catalog's imports to the adapter while the store thread makes the
//          transaction durable (ImportManager::apply_catalog waits for both)
//   lifecycle: blocking restarts (peer watchers on reload, election and step-down)
//   replicas on PostgreSQL: the leadership thread and the change feed's (replica.hpp)
//   the listeners' connection loops, each gateway's workers, each peer watcher, the metrics
//          exporter and importer, the Kuma adapter: their own threads, documented there
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker_metrics.hpp"
#include "handshake_guard.hpp"
#include "meshfed/api/admin_api.hpp"
#include "meshfed/api/peer_api.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/serial_executor.hpp"
#include "meshfed/federation/catalog.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/federation/metrics_export.hpp"
#include "meshfed/federation/metrics_import.hpp"
#include "meshfed/federation/witness_book.hpp"
#include "meshfed/gateway/gateway.hpp"
#include "meshfed/http/server.hpp"
#include "meshfed/metrics/registry.hpp"
#include "meshfed/peering/peerings.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/read_pool.hpp"
#include "meshfed/store/state_lock.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "peer_watchers.hpp"
#include "periodic_jobs.hpp"
#include "replica.hpp"
#include "route_publisher.hpp"
#include "runtime.hpp"
#include "snapshot.hpp"
#include "witness_watch.hpp"

namespace meshfed::app {

inline constexpr auto kTick = std::chrono::milliseconds(200);     // expiry resolution ("within a second")
inline constexpr auto kShutdownGrace = std::chrono::seconds(10);  // in-flight requests get this long at SIGTERM

struct BrokerParts {
  explicit BrokerParts(std::shared_ptr<const Snapshot> started) : first(started), snapshot(std::move(started)) {}

  // Restart-only settings (domain, state_dir, listeners) never change after start.
  const config::Config& first_config() const { return first->config; }
  const std::string& domain() const { return first_config().domain; }
  // Whether this broker does its domain's once-per-domain work: it holds a term (elected, not
  // deposed). A lapse of the lease between two confirmations does not stop that work, which
  // would then be missed once the lease runs again; the writes themselves are fenced by the
  // term and its lease (Database::leader_transaction, WriteTerm).
  bool leading() const { return !leadership || leadership->in_term(); }
  // Wakes the long-polls of these peers on our peer API (any thread).
  void notify_peers(std::vector<std::string> keys);
  // The peer watchers from the current snapshot, on the leader only. Watchers wait on the store
  // thread, and joining one can take as long as its current call: they are restarted on the
  // lifecycle thread, never on the store thread nor on the event loop.
  void restart_watchers();

  const std::shared_ptr<const Snapshot> first;  // as started: restart-only settings come from here
  PublishedSnapshot snapshot;                   // as of the last reload
  SystemClock clock;
  SerialExecutor store{"meshfed-store"};
  SerialExecutor off_store{"meshfed-offstore"};
  SerialExecutor lifecycle{"meshfed-lifecycl"};
  SerialExecutor control_plane{"meshfed-cp"};
  Runtime runtime{kShutdownGrace};  // claims the signals as the broker is made

  metrics::Registry metrics;
  std::optional<store::StateLock> state_lock;
  std::unique_ptr<store::Database> db;     // the store thread's: every write, and reads that decide one
  std::unique_ptr<store::ReadPool> reads;  // any thread's: answers that only read
  std::unique_ptr<controlplane::Adapter> adapter;
  std::unique_ptr<workflow::ExportWorkflow> workflow;
  std::unique_ptr<federation::ImportManager> imports;
  std::unique_ptr<peering::Peerings> peerings;  // the peers added through the admin API
  std::unique_ptr<BrokerMetrics> broker_metrics;
  std::unique_ptr<PeerWatchers> watchers;
  std::unique_ptr<RoutePublisher> routes;
  std::unique_ptr<federation::MetricsExporter> metrics_export;
  std::unique_ptr<federation::MetricsImporter> metrics_import;
  std::unique_ptr<api::AdminApi> admin_api;
  std::unique_ptr<http::HttpServer> admin_server;
  std::unique_ptr<federation::Catalog> catalog;
  std::unique_ptr<federation::AuditHeadSigner> audit_head;  // our head, signed for every catalog answer
  std::unique_ptr<federation::WitnessBook> witness_book;    // what we witness of the peers' logs
  std::unique_ptr<WitnessWatch> witness_watch;              // what the peers witnessed of ours
  std::unique_ptr<api::PeerApi> peer_api;
  std::unique_ptr<HandshakeGuard> peer_guard;
  std::unique_ptr<http::HttpServer> peer_server;
  std::unique_ptr<http::HttpServer> metrics_server;
  std::unique_ptr<PeriodicJobs> periodic;
  std::unique_ptr<gateway::GatewayMetrics> gateway_metrics;
  std::unique_ptr<metrics::CounterReports> l7_reports;  // separate ingress processes' denials
  std::unique_ptr<gateway::IngressGateway> ingress_gw;
  std::unique_ptr<gateway::EgressGateway> egress_gw;
  std::atomic<uint16_t> ingress_bound_port{0};
  std::unique_ptr<Leadership> leadership;                // replicas on PostgreSQL only
  std::unique_ptr<OtherReplicasCommits> others_commits;  // likewise
  metrics::Family& leader_gauge = metrics.gauge(
      "meshfed_replica_leader", "1 while this broker leads its domain (always, with one broker on SQLite).");
  metrics::Family& connection_refusals =
      metrics.counter("meshfed_connections_refused_total",
                      "Connections refused at accept by listener (admin, peer, metrics) and reason (per_source, "
                      "per_peer, capacity, source_range).",
                      {"listener", "reason"});
  std::string admin_address;  // host:port, for the replica list
};

}  // namespace meshfed::app
