#include "meshfed/app/gateway_process.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "meshfed/config/config.hpp"
#include "meshfed/core/serial_executor.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/gateway/gateway.hpp"
#include "meshfed/gateway/route_watcher.hpp"
#include "meshfed/http/server.hpp"

namespace meshfed::app {
namespace {

namespace asio = boost::asio;

constexpr auto kDenialsReportEvery = std::chrono::seconds(2);

// The config's section for `role` must exist and leave the gateway to us.
Status check_role(const config::Config& c, const std::string& role) {
  const bool present = role == "ingress" ? c.gateways.ingress.has_value() : c.gateways.egress.has_value();
  const bool in_broker =
      role == "ingress" ? present && c.gateways.ingress->enabled : present && c.gateways.egress->enabled;
  if (!present) return make_error(ErrorCode::kInvalidArgument, "the config has no gateways." + role + " section");
  if (in_broker) {
    return make_error(ErrorCode::kInvalidArgument, "gateways." + role +
                                                       ".enabled is true: the broker runs this gateway itself; set it "
                                                       "to false to run it as its own process");
  }
  return {};
}

http::Response text(int status, const std::string& body) {
  return {status, "text/plain; charset=utf-8", {}, body + "\n", "", {}};
}

class GatewayProcess {
 public:
  GatewayProcess(GatewayArgs args, config::Config cfg)
      : args_(std::move(args)), cfg_(std::move(cfg)), metrics_(registry_) {}

  int run() {
    signals_.add(SIGHUP);
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    auto token = read_secret_file(args_.token_file);
    auto tls = gateway::load_gateway_tls(cfg_);
    if (!token || !tls) {
      spdlog::critical("cannot start: {}", (!token ? token.error() : tls.error()).message);
      return 1;
    }
    registry_.gauge("meshfed_build_info", "Build information; always 1.", {"version", "domain"})
        .set({MESHFED_VERSION, cfg_.domain}, 1);
    if (args_.role == "ingress") {
      ingress_ = std::make_unique<gateway::IngressGateway>(metrics_,
                                                           gateway::GatewayLimits::from(cfg_.gateways.ingress->tuning));
      ingress_->set_tls(tls->ingress, tls->ingress_callers);
      if (auto st = ingress_->listen(cfg_.gateways.ingress->listen); !st) {
        spdlog::critical("cannot start: {}", st.error().message);
        return 1;
      }
      report_denials_every(*token);
    } else {
      egress_ = std::make_unique<gateway::EgressGateway>(metrics_,
                                                         gateway::GatewayLimits::from(cfg_.gateways.egress->tuning));
      egress_->set_tls(tls->egress, tls->egress_servers);
      // A port another program holds: the broker, which gives out ports, moves the import.
      egress_->on_listen_refused([this, token = *token](const std::string& id, uint16_t port, const std::string& e) {
        const nlohmann::json body = {{"import_id", id}, {"port", port}, {"error", e}};
        reports_.post([this, token, body] { report(token, "/api/v1/routes/egress-refusals", body); });
      });
      // What it listens on, so that the broker publishes those imports (in parts the API takes).
      egress_->on_listening([this, token = *token](const std::map<std::string, uint16_t>& opened) {
        nlohmann::json part = nlohmann::json::object();
        for (auto it = opened.begin(); it != opened.end(); ++it) {
          part[it->first] = it->second;
          if (part.size() == 1000 || std::next(it) == opened.end()) {
            reports_.post([this, token, body = nlohmann::json{{"listening", std::move(part)}}] {
              report(token, "/api/v1/routes/egress-listening", body);
            });
            part = nlohmann::json::object();
          }
        }
      });
    }
    if (!args_.metrics_listen.empty()) {
      const auto ep = config::parse_endpoint(args_.metrics_listen);
      metrics_server_ = std::make_unique<http::HttpServer>(
          io_, nullptr, [this](const http::Request& r) { return scrape(r); },
          [](const Error& e) { return text(400, e.message); }, nullptr, http::kScraperLimits);
      if (auto st =
              ep ? metrics_server_->listen(*ep)
                 : Status(make_error(ErrorCode::kInvalidArgument, "bad --metrics-listen " + args_.metrics_listen));
          !st) {
        spdlog::critical("cannot start: {}", st.error().message);
        return 1;
      }
    }
    watcher_ = std::make_unique<gateway::RouteWatcher>(
        gateway::RouteWatcherOptions{
            .broker_url = args_.broker_url, .ca_file = cfg_.tls.ca_file, .token = *token, .role = args_.role},
        [this](std::shared_ptr<const gateway::RoutingTable> t) {
          // On the signal loop, as a reload: the peers added through the broker's API are
          // trusted before their routes are taken, and distrusted with them.
          boost::asio::post(io_, [this, t = std::move(t)] {
            if (t->api_peers != api_peers_) apply_tls(t->api_peers, "peers added through the API changed");
            if (ingress_) ingress_->set_routes(t);
            if (egress_) egress_->set_routes(t);
          });
        });
    if (auto st = watcher_->start(); !st) {
      spdlog::critical("cannot start: {}", st.error().message);
      return 1;
    }
    spdlog::info("meshfed {} {} gateway for domain {} ready; routes from {}", MESHFED_VERSION, args_.role, cfg_.domain,
                 args_.broker_url);
    wait_signal();
    sd_notify(0, "READY=1");
    io_.run();
    spdlog::info("meshfed {} gateway for domain {} stopped", args_.role, cfg_.domain);
    return 0;
  }

 private:
  http::Response scrape(const http::Request& r) const {
    if (r.path != "/metrics") return text(404, "only /metrics is served here");
    if (r.method != "GET") return text(405, "only GET is served here");
    http::Response res = text(200, "");
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = registry_.expose();
    return res;
  }

  void wait_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload();
        return wait_signal();
      }
      sd_notify(0, "STOPPING=1");
      watcher_->stop();
      denials_timer_.cancel();
      if (ingress_) ingress_->stop();
      if (egress_) egress_->stop();
      if (metrics_server_) metrics_server_->stop();
      io_.stop();
    });
  }

  // One report to the broker (a refused port, the ports listened on, denials), off the
  // gateway's own threads, tried three times; true once the broker took it. A broker away
  // longer publishes at its start what it gave out before; one that stayed up keeps an
  // unreported import out of the control plane (its /readyz says so) until this process
  // reports again (a restart reports every listener).
  bool report(const std::string& token, const std::string& path, const nlohmann::json& body) {
    std::string host;
    uint16_t port = 0;
    if (!http::parse_https_url(args_.broker_url, host, port)) return false;
    auto options = http::ClientOptions::verifying(host, port, cfg_.tls.ca_file);
    options.timeout = std::chrono::seconds(5);
    std::string why;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(500 * attempt));  // a retry's pause
      auto client = http::HttpsClient::create(options);
      if (!client) {
        why = client.error().message;
        continue;
      }
      auto res = (*client)->request(
          "POST", path, {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}}, body.dump());
      if (res && res->status == 200) return true;
      why = res ? "HTTP " + std::to_string(res->status) : res.error().message;
      if (res && res->status < 500) break;  // refused: a retry would be refused too
    }
    spdlog::error("{}: cannot report to the broker ({}): {}", args_.role, path, why);
    return false;
  }

  // The L7 denials counted here, as totals, whenever they grew: the broker counts them as its
  // own ingress's, so that each calling peer receives its series with its exports' metrics. One
  // report at a time: a broker away does not make reports pile up, and the next one after it is
  // back carries every total.
  void report_denials_every(const std::string& token) {
    denials_timer_.expires_after(kDenialsReportEvery);
    denials_timer_.async_wait([this, token](const boost::system::error_code& ec) {
      if (ec) return;
      if (!denials_pending_.exchange(true)) {
        reports_.post([this, token, totals = metrics_.l7_denied.values()] {
          if (totals != sent_denials_ && send_denials(token, totals)) sent_denials_ = totals;
          denials_pending_ = false;
        });
      }
      report_denials_every(token);
    });
  }

  // On the reports' thread; true once every part is counted.
  bool send_denials(const std::string& token, const std::vector<std::pair<metrics::LabelValues, double>>& totals) {
    nlohmann::json part = nlohmann::json::array();
    for (size_t i = 0; i < totals.size(); ++i) {
      const auto& [labels, total] = totals[i];
      part.push_back({{"export", labels.at(0)}, {"peer", labels.at(1)}, {"total", static_cast<uint64_t>(total)}});
      if (part.size() == gateway::kMostL7SeriesPerReport || i + 1 == totals.size()) {
        if (!report(token, "/api/v1/routes/l7-denials", {{"instance", instance_}, {"denials", std::move(part)}})) {
          return false;
        }
        part = nlohmann::json::array();
      }
    }
    return true;
  }

  // Certificates and peers' CAs, re-read; established connections keep the ones they began
  // with, unless the CA that verified them is no longer trusted.
  void reload() {
    auto fresh = config::load_config(cfg_.file);
    if (!fresh) return spdlog::error("reload rejected: {}", config::format_errors(fresh.error()));
    tls_config_ = std::move(fresh).value();
    apply_tls(api_peers_, "certificates and peer CAs re-read");
  }

  // The signal loop's: TLS from the config's certificates and peers, and `api_peers`.
  void apply_tls(const std::vector<gateway::ApiPeer>& api_peers, const std::string& why) {
    auto tls = gateway::load_gateway_tls(tls_config_, api_peers);
    if (!tls) return spdlog::error("{}, but not applied: {}", why, tls.error().message);
    api_peers_ = api_peers;
    if (ingress_) ingress_->set_tls(tls->ingress, tls->ingress_callers);
    if (egress_) egress_->set_tls(tls->egress, tls->egress_servers);
    spdlog::info("{}: applied ({} peers added through the API)", why, api_peers_.size());
  }

  GatewayArgs args_;
  config::Config cfg_;
  config::Config tls_config_{cfg_};          // as of the last reload: the certificates and peers' CAs
  std::vector<gateway::ApiPeer> api_peers_;  // as the last routing table named them
  asio::io_context io_{1};
  asio::signal_set signals_{io_};
  metrics::Registry registry_;
  gateway::GatewayMetrics metrics_;
  std::unique_ptr<gateway::IngressGateway> ingress_;
  std::unique_ptr<gateway::EgressGateway> egress_;
  std::unique_ptr<http::HttpServer> metrics_server_;
  std::unique_ptr<gateway::RouteWatcher> watcher_;
  boost::asio::steady_timer denials_timer_{io_};
  // A denials report waits or runs on reports_.
  std::atomic<bool> denials_pending_{false};
  // What reports_ last told the broker (reports_' own).
  std::vector<std::pair<metrics::LabelValues, double>> sent_denials_;
  // This run's: its totals start from zero.
  const std::string instance_ = random_token(16);
  SerialExecutor reports_{"meshfed-report"};  // refusals and denials told to the broker
};

}  // namespace

int run_gateway(const GatewayArgs& args) {
  auto cfg = config::load_config(args.config_file);
  if (!cfg) {
    spdlog::critical("invalid config {}:\n{}", args.config_file, config::format_errors(cfg.error()));
    return 2;
  }
  if (auto st = check_role(*cfg, args.role); !st) {
    spdlog::critical("{}", st.error().message);
    return 2;
  }
  GatewayProcess p(args, std::move(cfg).value());
  return p.run();
}

}  // namespace meshfed::app
