// The broker's routing policy: when the gateways' routing table is rebuilt, and who hears of a
// new one. Runs on the store thread (checked), except current(), which any thread may call.
//
// With gateways in this process the table is rebuilt at once when the last rebuild is a tick
// ago, otherwise at the next tick: a single change reaches them immediately, a burst costs at
// most one full rebuild a tick. Without, the route watches of separate gateways are woken and
// the table is built when they ask: a broker nobody asks for routes never pays for them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "meshfed/api/admin_api.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/thread_owner.hpp"
#include "meshfed/gateway/gateway.hpp"
#include "meshfed/routing/route_builder.hpp"
#include "meshfed/store/database.hpp"

namespace meshfed::app {

struct RoutePublisherDeps {
  store::Database& db;
  controlplane::Adapter& adapter;  // its inventory: which targets exist
  const Clock& clock;
  std::function<routing::RouteInputs()> inputs;  // from the current config
  std::function<void()> wake_route_watchers;     // separate gateways' long-polls on /api/v1/routes
  std::function<void()> count_failure;           // a rebuild the store could not do
};

class RoutePublisher final : public api::RouteView {
 public:
  RoutePublisher(RoutePublisherDeps deps, std::chrono::milliseconds tick);

  // The gateways running in this process, once they listen (before any change arrives).
  void attach(gateway::IngressGateway* ingress, gateway::EgressGateway* egress);

  // These exports changed state: with in-process gateways their ingress routes are replaced
  // at once, so that no peer hears of an export before our ingress admits it.
  void exports_changed(const std::set<std::string>& export_ids);
  // Something else the table depends on changed (imports, quarantine, inventory, config).
  void changed();
  // The same, for a change that must reach the gateways at once (a reload, a peer removed):
  // built now, whatever the pace of the last builds.
  void changed_now();
  // The periodic rebuild of a table marked stale.
  void tick();
  // The table as of now, built first if stale (GET /api/v1/routes without in-process gateways).
  std::shared_ptr<const gateway::RoutingTable> routes() override;
  // Thread-safe.
  std::shared_ptr<const gateway::RoutingTable> current() const { return routes_.current(); }

 private:
  bool eager() const { return ingress_ || egress_; }
  void refresh();
  void hand_over();

  RoutePublisherDeps deps_;
  std::chrono::milliseconds tick_;
  gateway::IngressGateway* ingress_ = nullptr;
  gateway::EgressGateway* egress_ = nullptr;
  routing::RouteTableHolder routes_;
  bool dirty_ = true;
  std::chrono::steady_clock::time_point last_build_{};
  ThreadOwner owner_{"the route publisher"};
};

}  // namespace meshfed::app
