#include "route_publisher.hpp"

#include <spdlog/spdlog.h>

namespace meshfed::app {

RoutePublisher::RoutePublisher(RoutePublisherDeps deps, std::chrono::milliseconds tick)
    : deps_(std::move(deps)), tick_(tick), routes_(to_unix_ms(SystemClock().now())) {}

void RoutePublisher::attach(gateway::IngressGateway* ingress, gateway::EgressGateway* egress) {
  ingress_ = ingress;
  egress_ = egress;
}

void RoutePublisher::exports_changed(const std::set<std::string>& export_ids) {
  owner_.check();
  if (!eager()) return changed();
  auto fresh =
      routing::ingress_routes_of(deps_.db, *deps_.adapter.inventory(), deps_.inputs(), export_ids, deps_.clock.now());
  if (!fresh) return changed();  // a full rebuild will try again
  if (routes_.replace_ingress(export_ids, std::move(fresh).value())) hand_over();
}

void RoutePublisher::changed() {
  owner_.check();
  dirty_ = true;
  if (!eager()) {
    deps_.wake_route_watchers();
  } else if (std::chrono::steady_clock::now() - last_build_ >= tick_) {
    refresh();
  }
}

void RoutePublisher::changed_now() {
  owner_.check();
  dirty_ = true;
  if (eager()) return refresh();
  deps_.wake_route_watchers();
}

void RoutePublisher::tick() {
  owner_.check();
  if (eager()) refresh();
}

std::shared_ptr<const gateway::RoutingTable> RoutePublisher::routes() {
  owner_.check();
  refresh();
  return routes_.current();
}

void RoutePublisher::refresh() {
  if (!dirty_) return;
  dirty_ = false;
  last_build_ = std::chrono::steady_clock::now();
  auto table = routing::build_routes(deps_.db, *deps_.adapter.inventory(), deps_.inputs(), deps_.clock.now());
  if (!table) {
    dirty_ = true;  // the next tick tries again
    deps_.count_failure();
    spdlog::error("routes: {}", table.error().message);
    return;
  }
  if (routes_.update(std::move(table).value())) hand_over();
}

void RoutePublisher::hand_over() {
  const auto current = routes_.current();
  spdlog::debug("routes: revision {}: {} ingress, {} egress", current->revision, current->ingress.size(),
                current->egress.size());
  if (ingress_) ingress_->set_routes(current);
  if (egress_) egress_->set_routes(current);
  deps_.wake_route_watchers();
}

}  // namespace meshfed::app
