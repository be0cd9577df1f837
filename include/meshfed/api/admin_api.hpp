// The admin REST API (docs/openapi.json): authentication, roles, JSON in and
// out, ETag/If-Match, pagination, and the routes of /api/v1 plus the operational endpoints.
// Handlers run on the store thread; they translate between JSON and the workflow's types.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "meshfed/core/mutex.hpp"
#include "meshfed/api/auth.hpp"
#include "meshfed/api/router.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/failure_budget.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/firewall/flows.hpp"
#include "meshfed/peering/bundle.hpp"
#include "meshfed/peering/peer_list.hpp"
#include "meshfed/peering/peerings.hpp"
#include "meshfed/gateway/routes.hpp"
#include "meshfed/http/message.hpp"
#include "meshfed/metrics/counter_reports.hpp"
#include "meshfed/metrics/federate_source.hpp"
#include "meshfed/metrics/registry.hpp"
#include "meshfed/store/records.hpp"
#include "meshfed/workflow/export_workflow.hpp"

namespace meshfed::api {

struct Readiness {
  bool ready = false;
  std::map<std::string, std::string> checks;  // name -> "ok" or what is wrong
};

// What the admin API asks of the parts around it, beyond the workflow and the imports: one small
// interface per part, which that part implements (named below) and tests fake.

// Who may call: the tokens of the configuration generation in force (the published snapshot).
class Credentials {
 public:
  virtual ~Credentials() = default;
  virtual std::shared_ptr<const TokenStore> tokens() const = 0;
};

// Whether the broker is ready, check by check (GET /readyz; the broker's health).
class HealthProbe {
 public:
  virtual ~HealthProbe() = default;
  virtual Readiness readiness() = 0;
};

// The brokers of the domain that share its store, heard from in the last minute (GET
// /api/v1/replicas; the replica reactions). One unless on PostgreSQL.
class ReplicaDirectory {
 public:
  virtual ~ReplicaDirectory() = default;
  virtual Result<std::vector<store::ReplicaRecord>> replicas() = 0;
};

// Told after a peer is quarantined or released, so that its watcher reacts at once (the
// store-thread reactions).
class PeerSignals {
 public:
  virtual ~PeerSignals() = default;
  virtual void peer_changed(const std::string& peer) = 0;
};

// The gateways' current routing table, for the route watch (GET /api/v1/routes; the route
// publisher).
class RouteView {
 public:
  virtual ~RouteView() = default;
  virtual std::shared_ptr<const gateway::RoutingTable> routes() = 0;
};

// The cross-boundary flows for GET /api/v1/firewall. Called off the store thread: it resolves
// host names.
class FirewallView {
 public:
  virtual ~FirewallView() = default;
  virtual Result<firewall::FlowSet> firewall_flows(firewall::Mode mode) = 0;
};

// This domain's peering bundle as its current config describes it, for
// GET /api/v1/peering/bundle. Called off the store thread: it reads the CA file.
class BundleSource {
 public:
  virtual ~BundleSource() = default;
  virtual Result<peering::Bundle> bundle() = 0;
};

// The witnesses of our audit log (federation/witness_check.hpp) and what we witnessed of our
// peers' (federation/witness_book.hpp), for the audit and peer routes.
class WitnessDesk {
 public:
  virtual ~WitnessDesk() = default;
  // The answer of a check of our log against every peer that finished within `fresh`:
  // {checked_at, outcome, peers}. Otherwise nothing, and a check is under way: it notifies
  // kWitnessWaitKey when it ends.
  virtual std::optional<nlohmann::json> checked_within(std::chrono::seconds fresh) = 0;
  // The last check's answer, however old; null before the first.
  virtual nlohmann::json last_check() = 0;
  // What we witnessed of `peer`'s log: {newest, conflicts}.
  virtual nlohmann::json witnessed_of(const std::string& peer) = 0;
};
inline const std::string kWitnessWaitKey = "audit-witnesses";

struct AdminApiDeps {
  workflow::ExportWorkflow& workflow;
  const controlplane::Adapter& control_plane;
  metrics::Registry& metrics;
  federation::ImportManager& imports;
  const Credentials& credentials;
  HealthProbe& health;
  ReplicaDirectory& replicas;
  const metrics::FederateSource& federation;           // the metrics importer
  PeerSignals* peers = nullptr;                        // none: a quarantine takes effect at the watcher's next poll
  RouteView* routes = nullptr;                         // none: the route watch answers 503
  FirewallView* firewall = nullptr;                    // none: the firewall answers 503
  const Clock* clock = nullptr;                        // none: the system clock (it paces authentication failures)
  BundleSource* bundle = nullptr;                      // none: the bundle answers 503
  peering::Peerings* peerings = nullptr;               // none: peers come from the config file only
  metrics::CounterReports* gateway_reports = nullptr;  // none: a separate ingress's denials are refused (503)
  WitnessDesk* witnesses = nullptr;                    // none: ?witnesses=true answers 503, peers show no witness
};

// The long-poll key the route watch waits on; notify it when the routing table changes.
inline const std::string kRoutesWaitKey = "routes";

class AdminApi {
 public:
  explicit AdminApi(AdminApiDeps deps);

  http::Response handle(const http::Request& req);
  const Router& router() const { return router_; }
  // The executor a `method` request for `path` is answered on, as its route was registered.
  Runs runs_on(const std::string& method, const std::string& path) const;

  // Authentication failures since the last call, by reason (for the audit summary).
  std::map<std::string, int64_t> take_auth_failures();
  // meshfed_auth_failures_total{listener, reason}, for the other listeners to count theirs.
  metrics::Family& auth_failures_metric() { return auth_failures_; }

 private:
  using Params = PathParams;
  struct Authn {
    std::optional<workflow::Principal> principal;
    std::optional<http::Response> refusal;
  };
  Authn authenticate(const http::Request& req, std::optional<workflow::Role> role);
  void routes();

  http::Response list_services(const http::Request& req);
  http::Response create_export(const http::Request& req, const workflow::Principal& who);
  http::Response propose_l7(const http::Request& req, const workflow::Principal& who, const std::string& id);
  http::Response list_exports(const http::Request& req);
  http::Response get_export(const std::string& id);
  http::Response decide(const http::Request& req, const workflow::Principal& who, const std::string& id,
                        workflow::ExportAction action);
  http::Response list_imports(const http::Request& req);
  http::Response egress_refused(const http::Request& req);
  http::Response l7_denials_reported(const http::Request& req);
  http::Response egress_listening(const http::Request& req);
  http::Response get_import(const std::string& id);
  http::Response decide_import(const http::Request& req, const workflow::Principal& who, const std::string& id,
                               federation::ImportManager::Decision decision);
  http::Response list_peers();
  http::Response propose_peer(const http::Request& req, const workflow::Principal& who);
  http::Response approve_peer(const http::Request& req, const workflow::Principal& who, const std::string& domain);
  http::Response propose_bundle(const http::Request& req, const workflow::Principal& who, const std::string& domain);
  http::Response remove_peer(const http::Request& req, const workflow::Principal& who, const std::string& domain);
  Result<std::vector<peering::PeerEntry>> peers();
  http::Response peer_response(const std::string& domain, const store::PeeringRecord& changed);
  http::Response peer_action(const http::Request& req, const workflow::Principal& who, const std::string& domain,
                             federation::ImportManager::PeerAction action);
  http::Response firewall(const http::Request& req);
  http::Response watch_routes(const http::Request& req);
  http::Response list_audit(const http::Request& req);
  http::Response audit_head();
  http::Response audit_verify(const http::Request& req);
  http::Response audit_witnesses();
  http::Response whoami(const workflow::Principal& who);
  http::Response serve_console(const http::Request& req);
  http::Response readyz();
  http::Response list_replicas();
  http::Response peering_bundle();

  http::Response export_response(const store::ExportRecord& e, int status = 200);

  AdminApiDeps deps_;
  Router router_;
  metrics::Family& requests_;
  metrics::Family& latency_;
  metrics::Family& auth_failures_;
  FailureBudget auth_budget_;  // by source address: 401s cost a bucket, an empty one answers 429
  Mutex auth_mu_;
  std::map<std::string, int64_t> pending_auth_failures_ GUARDED_BY(auth_mu_);
};

}  // namespace meshfed::api
