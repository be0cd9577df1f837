#include "meshfed/gateway/route_watcher.hpp"

#include <spdlog/spdlog.h>

#include <random>

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
  auto client = http::HttpsClient::create(o);
  if (!client) return client.error();
  client_ = std::move(client).value();
  thread_ = std::thread([this] { run(); });
  return {};
}

void RouteWatcher::stop() {
  if (!thread_.joinable()) return;
  {
    // Under the mutex pause() waits on: set between its check and its wait, the flag and the
    // notification would both be missed, and stop() would sit out a backoff of up to 15 s.
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  client_->abort();
  thread_.join();
}

void RouteWatcher::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void RouteWatcher::run() {
  std::mt19937_64 rng(std::random_device{}());
  auto backoff = options_.backoff_min;
  int64_t since = 0;
  const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + options_.token}};
  auto fail = [&](const std::string& error) {
    spdlog::warn("routes: broker {}: {}; serving the last routing table (revision {})", options_.broker_url, error,
                 since);
    const auto d =
        std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(backoff.count() / 2, backoff.count())(rng));
    backoff = std::min(backoff * 2, options_.backoff_max);
    pause(d);
  };
  while (!stopping_) {
    auto res = client_->request(
        "GET", "/api/v1/routes?since=" + std::to_string(since) + "&wait=" + std::to_string(options_.wait.count()),
        headers);
    if (stopping_) break;
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
    backoff = options_.backoff_min;
    since = table->revision;
    spdlog::info("routes: revision {}: {} ingress, {} egress", since, table->ingress.size(), table->egress.size());
    on_table_(std::make_shared<const RoutingTable>(std::move(table).value()));
  }
}

}  // namespace meshfed::gateway
