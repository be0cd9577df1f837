// Everything the broker listens on, started in order once the parts exist: the admin API, the
// peer API, the in-process gateways and the plain metrics listener; then where they listen is
// written to runtime.json. Each request runs on the executor its route declares.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "meshfed/config/config.hpp"
#include "parts.hpp"

namespace meshfed::app {

class Listeners {
 public:
  explicit Listeners(BrokerParts& parts) : p_(parts) {}

  // Binds every listener and starts the gateways (the event loop runs later). On success
  // p_.admin_address is where the admin API listens.
  Status open();
  // At a stop (event loop): listeners take no new connections; what is in flight drains.
  void stop_accepting();
  int open_connections() const;

 private:
  Status start_peer_api();
  Status start_gateways();
  Status start_metrics_listener();
  // Where peers reach our ingress, as the catalog tells them. An advertised port 0 is the
  // port the in-process ingress bound (tests, demos).
  federation::IngressAddress ingress_address() const;
  void write_runtime_file(const config::Endpoint& admin, const std::optional<config::Endpoint>& peer_api);
  // The admin API's requests (and the metrics listener's) run where their route says.
  void run_admin_request(const std::string& method, const std::string& path, std::function<void()> job);

  BrokerParts& p_;
};

}  // namespace meshfed::app
