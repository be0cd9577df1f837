// A separately run gateway's link to its broker: follows GET /api/v1/routes (long-poll, role
// gateway) on its own thread and hands every new table on. While the broker is away it keeps
// retrying with jittered backoff; the gateway keeps serving the last table meanwhile.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "meshfed/core/settings_loop.hpp"
#include "meshfed/gateway/routes.hpp"
#include "meshfed/http/client.hpp"

namespace meshfed::gateway {

struct RouteWatcherOptions {
  std::string broker_url;         // https://host:port of the broker's admin API
  std::filesystem::path ca_file;  // the domain's own CA, which issued the broker's certificate
  std::string token;              // a token with the gateway role
  std::chrono::seconds wait{30};
  std::chrono::milliseconds backoff_min{500};
  std::chrono::milliseconds backoff_max{15000};
  std::string role;  // "ingress" or "egress": the broker learns that a separate egress runs
};

class RouteWatcher {
 public:
  using OnTable = std::function<void(std::shared_ptr<const RoutingTable>)>;
  RouteWatcher(RouteWatcherOptions options, OnTable on_table);
  ~RouteWatcher();

  Status start();
  void stop();

 private:
  void run();

  RouteWatcherOptions options_;
  OnTable on_table_;
  std::unique_ptr<http::HttpsClient> client_;
  http::InterruptibleRequests requests_;  // stop() breaks off the long-poll
  BackgroundLoop loop_;                   // last: its thread stops before the rest goes
};

}  // namespace meshfed::gateway
