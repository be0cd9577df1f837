// The control side of routing: computes the gateways' routing table from the store and the
// inventory (on the store thread) and numbers its versions for the route watch. The data plane
// (gateway/) only receives tables and never reads the store.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "meshfed/core/mutex.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/gateway/routes.hpp"
#include "meshfed/store/database.hpp"

namespace meshfed::routing {

using gateway::EgressRoute;
using gateway::HostPort;
using gateway::IngressRoute;
using gateway::RoutingTable;

struct RouteInputs {
  std::set<std::string> peers;              // configured peer domains
  bool ingress = false;                     // this domain has an ingress gateway
  std::optional<std::string> egress_bind;   // this domain has an egress gateway, listening here
  std::vector<gateway::ApiPeer> api_peers;  // the peers added through the admin API, for separate gateways
};

// Ingress: each approved, unexpired export whose target is in the inventory, once per peer it
// is scoped to that is configured and not quarantined. Egress: each active or stale import
// that has an egress port. Reads inside one store transaction.
Result<RoutingTable> build_routes(store::Database& db, const controlplane::Inventory& inventory,
                                  const RouteInputs& inputs, TimePoint now);

// The ingress routes of just these exports (approved or not: a revoked one has none), for an
// update after one transition without reading every export.
Result<std::vector<IngressRoute>> ingress_routes_of(store::Database& db, const controlplane::Inventory& inventory,
                                                    const RouteInputs& inputs, const std::set<std::string>& export_ids,
                                                    TimePoint now);

// The current table and its revision. A revision is handed out only when the routes change;
// the first one is the wall-clock milliseconds at start, so revisions keep growing across
// restarts and a gateway never mistakes a new table for one it has.
class RouteTableHolder {
 public:
  explicit RouteTableHolder(int64_t first_revision);
  // Installs `fresh` if it differs; true if it did.
  bool update(RoutingTable fresh);
  // Replaces the ingress routes of `export_ids` with `fresh`; true if that changed the table.
  bool replace_ingress(const std::set<std::string>& export_ids, std::vector<IngressRoute> fresh);
  std::shared_ptr<const RoutingTable> current() const;

 private:
  mutable Mutex mu_;
  std::shared_ptr<const RoutingTable> table_ GUARDED_BY(mu_);
};

}  // namespace meshfed::routing
