#include "meshfed/gateway/route_watcher.hpp"

#include <spdlog/spdlog.h>

#include "meshfed/core/backoff.hpp"

namespace meshfed::gateway {

RouteWatcher::RouteWatcher(RouteWatcherOptions options, OnTable on_table)
    : options_(std::move(options)), on_table_(std::move(on_table)) {}

RouteWatcher::~RouteWatcher() { stop(); }

Status RouteWatcher::start() {
  std::string host;
  uint16_t port = 0;
  if (!http::parse_https_url(options_.broker_url, host, port)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "bad broker URL \"" + options_.broker_url + "\"; expected https://host:port");
  }
  auto o = http::ClientOptions::verifying(host, port, options_.ca_file);
  o.timeout = options_.wait + std::chrono::seconds(15);
  MESHFED_ASSIGN_OR_RETURN(auto client, http::HttpsClient::create(o));
  client_ = std::move(client);
  loop_.start([this] { run(); });
  return {};
}

void RouteWatcher::stop() {
  loop_.stop([this] { requests_.stop(); });
}

void RouteWatcher::run() {
  Backoff backoff(options_.backoff_min, options_.backoff_max);
  int64_t since = 0;
  const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + options_.token}};
  auto fail = [&](const std::string& error) {
    spdlog::warn("routes: broker {}: {}; serving the last routing table (revision {})", options_.broker_url, error,
                 since);
    loop_.sleep_for(backoff.next());
  };
  while (loop_.next_round()) {
    auto res = requests_.request(*client_, "GET",
                                 "/api/v1/routes?since=" + std::to_string(since) +
                                     "&wait=" + std::to_string(options_.wait.count()) +
                                     (options_.role.empty() ? "" : "&role=" + options_.role),
                                 headers);
    if (loop_.stopping()) break;
    if (!res) {
      fail(res.error().message);
      continue;
    }
    if (res->status == 304) continue;
    if (res->status != 200) {
      fail("HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 300));
      continue;
    }
    auto table = parse_routes(res->body);
    if (!table) {
      fail(table.error().message);
      continue;
    }
    backoff.reset();
    since = table->revision;
    spdlog::info("routes: revision {}: {} ingress, {} egress", since, table->ingress.size(), table->egress.size());
    on_table_(std::make_shared<const RoutingTable>(std::move(table).value()));
  }
}

}  // namespace meshfed::gateway
