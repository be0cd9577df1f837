// Metrics federation end to end: a fixture exporter in pci (Envoy-style series with pods and
// addresses), pci's broker exporting one service's request metrics to internal, internal's
// broker scraping them over mutual TLS, and a real Prometheus in internal scraping /federate.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>

#include "support/net_support.hpp"
#include "support/test_support.hpp"
#include "meshfed/http/message.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;

const std::string kPayments = "default_payments-api__zone-1_msvc_8443";

// What the pci data planes expose. The forged meshfed_source_domain stands for a peer that
// tries to pose as another domain: pci's allowlist lets it through, internal must overwrite it.
std::string source_text(int payments_a) {
  return "# HELP envoy_cluster_upstream_rq_total Requests to the upstream cluster.\n"
         "# TYPE envoy_cluster_upstream_rq_total counter\n"
         "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"" +
         kPayments +
         "\",envoy_response_code_class=\"2\","
         "pod=\"payments-7d4f\",instance=\"10.1.2.3:5670\",meshfed_source_domain=\"dmz\"} " +
         std::to_string(payments_a) +
         "\n"
         "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"" +
         kPayments +
         "\",envoy_response_code_class=\"2\","
         "pod=\"payments-9x2k\",instance=\"10.1.2.4:5670\",meshfed_source_domain=\"dmz\"} 5\n"
         "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"default_ledger__zone-1_msvc_5432\","
         "envoy_response_code_class=\"2\",pod=\"ledger-1\",instance=\"10.1.2.5:5670\"} 99\n"
         "# HELP envoy_cluster_upstream_rq_time_seconds Upstream request time.\n"
         "# TYPE envoy_cluster_upstream_rq_time_seconds histogram\n"
         "envoy_cluster_upstream_rq_time_seconds_bucket{envoy_cluster_name=\"" +
         kPayments +
         "\",pod=\"payments-7d4f\",le=\"0.1\"} 3\n"
         "envoy_cluster_upstream_rq_time_seconds_bucket{envoy_cluster_name=\"" +
         kPayments +
         "\",pod=\"payments-7d4f\",le=\"+Inf\"} 4\n"
         "envoy_cluster_upstream_rq_time_seconds_sum{envoy_cluster_name=\"" +
         kPayments +
         "\",pod=\"payments-7d4f\"} 0.5\n"
         "envoy_cluster_upstream_rq_time_seconds_count{envoy_cluster_name=\"" +
         kPayments +
         "\",pod=\"payments-7d4f\"} 4\n"
         "# HELP envoy_server_memory_allocated_bytes Memory in use.\n"
         "# TYPE envoy_server_memory_allocated_bytes gauge\n"
         "envoy_server_memory_allocated_bytes{envoy_cluster_name=\"" +
         kPayments + "\",pod=\"payments-7d4f\"} 1000000\n";
}

class MetricsFederationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fed_ = std::make_unique<Federation>(
        std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}}, "auto",
        /*stale_after_s=*/6);
    auto& pci = fed_->domain("pci");
    pci.config["metrics"] = {
        {"sources",
         {{{"url", "http://127.0.0.1:" + std::to_string(source_.port()) + "/stats/prometheus?usedonly"},
           {"interval_s", 1},
           {"timeout_s", 2},
           {"service_label", "envoy_cluster_name"},
           {"service_regex", "[^_]+_([^_]+)_.*"}}}},
        {"label_allowlist", {"envoy_response_code_class", "le", "meshfed_source_domain"}}};
    pci.save_config();
    const uint16_t ports = free_port_range(2);
    metrics_port_ = ports;
    prometheus_port_ = static_cast<uint16_t>(ports + 1);
    fed_->domain("internal").serve_metrics_on(metrics_port_);
    fed_->start_all();
    fed_->connect();
  }

  void TearDown() override {
    if (prometheus_pid_ > 0) stop_process(prometheus_pid_);
  }

  ApiResult call(const std::string& d, const std::string& method, const std::string& target, const std::string& who,
                 const std::optional<json>& body = std::nullopt) {
    auto c = fed_->admin(d);
    return api_call(*c, method, target, fed_->domain(d).tokens.at(who), body);
  }

  // An approved export of payments-api naming its request metrics; returns its alias.
  std::string approve_payments() {
    auto r = call("pci", "POST", "/api/v1/exports", "alice",
                  json{{"mesh", "default"},
                       {"service", "payments-api"},
                       {"port", 8443},
                       {"peers", {"internal"}},
                       {"metrics", {"envoy_cluster_upstream_rq*"}},
                       {"reason", "checkout dashboards"}});
    EXPECT_EQ(r.status, 201) << r.body.dump();
    export_id_ = r.body.value("id", "");
    EXPECT_EQ(call("pci", "POST", "/api/v1/exports/" + export_id_ + "/approve", "bob").status, 200);
    return r.body.value("alias", "");
  }

  std::string federate(const std::string& query = "") {
    auto r = plain_get(metrics_port_, "/federate" + query);
    return r && r->status == 200 ? r->body : "";
  }

  void start_prometheus() {
    prometheus_pid_ = testing::start_prometheus(fed_->dir() / "prometheus", prometheus_port_,
                                                "  - job_name: meshfed-federate\n"
                                                "    honor_labels: true\n"
                                                "    metrics_path: /federate\n"
                                                "    params:\n      'match[]': ['{meshfed_source_domain!=\"\"}']\n"
                                                "    static_configs:\n      - targets: ['127.0.0.1:" +
                                                    std::to_string(metrics_port_) + "']\n");
  }

  json prometheus_query(const std::string& promql) { return testing::prometheus_query(prometheus_port_, promql); }

  HttpFixture source_{source_text(10)};
  std::unique_ptr<Federation> fed_;
  std::string export_id_;
  uint16_t metrics_port_ = 0;
  uint16_t prometheus_port_ = 0;
  int prometheus_pid_ = -1;
};

TEST_F(MetricsFederationTest, PrometheusGetsOnlyTheExportedSeriesUnderTheAliasAndThePeersDomain) {
  const std::string alias = approve_payments();
  ASSERT_FALSE(alias.empty());
  ASSERT_TRUE(wait_until([&] { return federate().find("service=\"" + alias + "\"") != std::string::npos; }))
      << fed_->broker("internal").log() << fed_->broker("pci").log();
  start_prometheus();
  json series;
  ASSERT_TRUE(wait_until(
      [&] {
        series = prometheus_query("{meshfed_source_domain!=\"\"}");
        return series.size() >= 5;  // the counter and the histogram's four series
      },
      std::chrono::seconds(60)))
      << read_file(fed_->dir() / "prometheus/prometheus.log");

  std::set<std::string> names;
  for (const auto& s : series) {
    const json& m = s["metric"];
    names.insert(m.value("__name__", ""));
    EXPECT_EQ(m.value("service", ""), alias) << m.dump();
    EXPECT_EQ(m.value("meshfed_source_domain", ""), "pci") << "a peer posed as another domain: " << m.dump();
    for (const char* forbidden : {"pod", "envoy_cluster_name"}) EXPECT_FALSE(m.contains(forbidden)) << m.dump();
    for (const auto& [label, value] : m.items()) {
      EXPECT_EQ(value.get<std::string>().find("10.1.2."), std::string::npos)
          << label << " leaks an address: " << m.dump();
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{
                       "envoy_cluster_upstream_rq_total", "envoy_cluster_upstream_rq_time_seconds_bucket",
                       "envoy_cluster_upstream_rq_time_seconds_sum", "envoy_cluster_upstream_rq_time_seconds_count"}));
  // The two pods' counters were summed into one series.
  const json total = prometheus_query("envoy_cluster_upstream_rq_total");
  ASSERT_EQ(total.size(), 1u) << total.dump();
  EXPECT_EQ(total[0]["value"][1], "15");
  EXPECT_EQ(total[0]["metric"].value("envoy_response_code_class", ""), "2");
  EXPECT_TRUE(prometheus_query("{service=\"ledger\"}").empty());
  EXPECT_TRUE(prometheus_query("envoy_server_memory_allocated_bytes").empty());

  // New values flow through.
  source_.set_body(source_text(30));
  EXPECT_TRUE(wait_until(
      [&] {
        const json now = prometheus_query("envoy_cluster_upstream_rq_total");
        return now.size() == 1 && now[0]["value"][1] == "35";
      },
      std::chrono::seconds(30)));
}

TEST_F(MetricsFederationTest, EveryEndpointPassesPromtoolAndMatchIsHonoured) {
  const std::string alias = approve_payments();
  ASSERT_TRUE(wait_until([&] { return federate().find("service=\"" + alias + "\"") != std::string::npos; }));

  EXPECT_EQ(promtool_check_metrics(federate()), "");
  const std::string only_total = federate("?match[]=" + http::percent_encode("envoy_cluster_upstream_rq_total"));
  EXPECT_NE(only_total.find("envoy_cluster_upstream_rq_total{"), std::string::npos) << only_total;
  EXPECT_EQ(only_total.find("rq_time"), std::string::npos) << only_total;
  auto bad = plain_get(metrics_port_, "/federate?match[]=" + http::percent_encode("{service=~\"(\"}"));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("invalid series selector"), std::string::npos) << bad->body;

  auto own = plain_get(metrics_port_, "/metrics");
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(promtool_check_metrics(own->body), "");
  for (const char* name :
       {"meshfed_peer_metrics_series{peer=\"pci\"}", "meshfed_import_approval_latency_seconds_count{peer=\"pci\"} 1",
        "meshfed_exports_by_peer", "meshfed_peer_sync_errors_total",
        "meshfed_certificate_expiry_timestamp_seconds{role=\"ca\"}",
        "meshfed_certificate_expiry_timestamp_seconds{role=\"peer_ca\",peer=\"pci\"}"}) {
    EXPECT_NE(own->body.find(name), std::string::npos) << name << "\n" << own->body;
  }
  EXPECT_EQ(plain_get(metrics_port_, "/api/v1/exports")->status, 404);

  for (const std::string d : {"pci", "internal"}) {
    auto admin = fed_->admin(d);
    for (const char* target : {"/metrics", "/federate"}) {
      auto r = admin->request("GET", target);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(promtool_check_metrics(r->body), "") << d << target;
    }
  }
  auto pci_metrics = fed_->admin("pci")->request("GET", "/metrics");
  EXPECT_NE(pci_metrics->body.find("meshfed_metrics_exported_series{peer=\"internal\"} 5"), std::string::npos)
      << pci_metrics->body;
  EXPECT_NE(pci_metrics->body.find("meshfed_exports_by_peer{peer=\"internal\",state=\"approved\"} 1"),
            std::string::npos);

  // The peer API, as internal's broker calls it.
  http::ClientOptions o =
      http::ClientOptions::verifying("127.0.0.1", fed_->peer_api_port("pci"), fed_->domain("pci").dir / "pki/ca.pem");
  o.cert_file = fed_->domain("internal").dir / "pki/broker.pem";
  o.key_file = fed_->domain("internal").dir / "pki/broker-key.pem";
  auto peer = http::HttpsClient::create(o);
  ASSERT_TRUE(peer.ok());
  auto exported = (*peer)->request("GET", "/federation/v1/metrics");
  ASSERT_TRUE(exported.ok());
  EXPECT_EQ(exported->status, 200);
  EXPECT_EQ(promtool_check_metrics(exported->body), "");
  EXPECT_NE(
      exported->body.find(
          "envoy_cluster_upstream_rq_total{envoy_response_code_class=\"2\",meshfed_source_domain=\"dmz\",service=\"" +
          alias + "\"} 15"),
      std::string::npos)
      << exported->body;
}

// The metrics listener is served as the others are (Beast, one admission layer): requests on a
// kept connection, framing refused as on the APIs, a source held to its share.
TEST_F(MetricsFederationTest, TheMetricsListenerKeepsConnectionsAndHoldsEachSourceToItsShare) {
  const int kept = connect_loopback(metrics_port_);
  ASSERT_GE(kept, 0);
  ASSERT_TRUE(send_all(kept,
                       "GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n"
                       "GET /federate HTTP/1.1\r\nHost: m\r\n\r\n"
                       "GET /nothing HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n"));
  const std::string answers = read_until_eof(kept, std::chrono::seconds(10));
  ::close(kept);
  size_t ok = 0;
  for (auto at = answers.find("HTTP/1.1 200 OK"); at != std::string::npos; at = answers.find("HTTP/1.1 200", at + 1))
    ++ok;
  EXPECT_EQ(ok, 2u) << answers.substr(0, 200);
  EXPECT_NE(answers.find("HTTP/1.1 404 Not Found"), std::string::npos) << "three answers on one connection";
  EXPECT_NE(answers.find("only /metrics and /federate are served here"), std::string::npos);

  const int ambiguous = connect_loopback(metrics_port_);
  ASSERT_TRUE(send_all(ambiguous,
                       "GET /metrics HTTP/1.1\r\nHost: m\r\nContent-Length: 3\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  const std::string refusal = read_until_eof(ambiguous, std::chrono::seconds(10));
  ::close(ambiguous);
  EXPECT_EQ(refusal.rfind("HTTP/1.1 400", 0), 0u) << refusal;

  std::vector<int> fds;
  for (int i = 0; i < 20; ++i) fds.push_back(connect_from("127.0.0.7", metrics_port_));
  int closed = 0;
  ASSERT_TRUE(wait_until([&] {
    closed = 0;
    for (int fd : fds) closed += closed_by_server(fd, std::chrono::milliseconds(0));
    return closed >= 4;
  }));
  EXPECT_EQ(closed, 20 - 16) << "16 per source on the metrics listener";
  EXPECT_EQ(plain_get(metrics_port_, "/metrics")->status, 200) << "another address is unaffected";
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(fed_->metric("internal", "meshfed_connections_refused_total{listener=\"metrics\",reason=\"per_source\"}"),
            4);
}

TEST_F(MetricsFederationTest, RevocationStopsTheFlowAndAPeerThatGoesAwayIsForgotten) {
  const std::string alias = approve_payments();
  ASSERT_TRUE(wait_until([&] { return federate().find("service=\"" + alias + "\"") != std::string::npos; }));

  // A revoked export's series stop at the exporter at once, and leave /federate when the
  // import goes.
  ASSERT_EQ(call("pci", "POST", "/api/v1/exports/" + export_id_ + "/revoke", "bob").status, 200);
  EXPECT_TRUE(wait_until([&] { return federate().find("service=\"" + alias + "\"") == std::string::npos; }));

  // Approved again, then the exporting broker dies: after the stale period nothing is left
  // frozen at its last value.
  const std::string again = approve_payments();
  ASSERT_TRUE(wait_until([&] { return federate().find("service=\"" + again + "\"") != std::string::npos; }));
  fed_->broker("pci").kill_hard();
  EXPECT_TRUE(wait_until([&] { return federate().empty(); }, std::chrono::seconds(30)));
  std::string own;
  EXPECT_TRUE(wait_until([&] {
    auto r = plain_get(metrics_port_, "/metrics");
    own = r ? r->body : "";
    return own.find("meshfed_peer_metrics_series{peer=\"pci\"} 0") != std::string::npos;
  })) << own;
  EXPECT_NE(own.find("meshfed_peer_sync_errors_total{peer=\"pci\",reason=\"unreachable\"}"), std::string::npos);
}

}  // namespace
}  // namespace meshfed::testing
