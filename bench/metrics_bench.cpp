// Metrics federation benchmark (issue: metrics federation), printing a Markdown section:
//  1. filtering and relabelling: parse a 1,000,000-series Envoy-style source and select what
//     one peer's exports name (service from envoy_cluster_name by regex, labels cut to the
//     allowlist, pods summed), in series per second; compared in the same run with a real
//     Prometheus scraping the same text through the equivalent metric_relabel_configs
//     (its scrape_duration_seconds);
//  2. /federate with 100,000 federated series: two real brokers, the series flowing from pci's
//     source to internal's /federate; the time to serve it, against a real Prometheus holding
//     the same series (it scrapes internal's /federate) serving its own /federate.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "meshfed/http/message.hpp"
#include "meshfed/metrics/export_selection.hpp"
#include "meshfed/metrics/exposition.hpp"
#include "support/net_support.hpp"
#include "bench_support.hpp"
#include "support/test_support.hpp"

using namespace meshfed;
using namespace meshfed::testing;
using namespace meshfed::bench;
using nlohmann::json;

namespace {

template <typename Fn>
double best_ms(int runs, Fn fn) {
  double best = 1e18;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = SteadyClock::now();
    fn();
    best = std::min(best, ms_since(t0));
  }
  return best;
}

const char* kCounters[] = {"envoy_cluster_upstream_rq_total",
                           "envoy_cluster_upstream_rq_xx",
                           "envoy_cluster_upstream_rq_timeout",
                           "envoy_cluster_upstream_rq_retry",
                           "envoy_cluster_upstream_cx_total",
                           "envoy_cluster_upstream_cx_rx_bytes_total",
                           "envoy_cluster_upstream_cx_tx_bytes_total",
                           "envoy_cluster_upstream_cx_connect_fail",
                           "envoy_cluster_upstream_rq_pending_overflow",
                           "envoy_cluster_upstream_rq_rx_reset"};
const char* kBuckets[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"};

// `services` x `pods` data planes, each with 10 counters by 5 response classes and a 12-bucket
// histogram: 64 series per data plane, as Envoy's Prometheus stats look.
std::string envoy_source(int services, int pods) {
  std::string out;
  out.reserve(static_cast<size_t>(services) * pods * 64 * 150);
  auto cluster = [](int s) { return "default_svc-" + std::to_string(s) + "__zone-1_msvc_8443"; };
  for (const char* name : kCounters) {
    out += std::string("# HELP ") + name + " Envoy cluster counter.\n# TYPE " + name + " counter\n";
    for (int s = 0; s < services; ++s) {
      for (int p = 0; p < pods; ++p) {
        for (int c = 1; c <= 5; ++c) {
          out += std::string(name) + "{envoy_cluster_name=\"" + cluster(s) + "\",envoy_response_code_class=\"" +
                 std::to_string(c) + "\",pod=\"svc-" + std::to_string(s) + "-" + std::to_string(p) +
                 "\",instance=\"10.0." + std::to_string(s % 250) + "." + std::to_string(p) + ":5670\"} " +
                 std::to_string(s * 7 + p * 3 + c) + "\n";
        }
      }
    }
  }
  out +=
      "# HELP envoy_cluster_upstream_rq_time Upstream request time.\n# TYPE envoy_cluster_upstream_rq_time histogram\n";
  for (int s = 0; s < services; ++s) {
    for (int p = 0; p < pods; ++p) {
      const std::string labels =
          "envoy_cluster_name=\"" + cluster(s) + "\",pod=\"svc-" + std::to_string(s) + "-" + std::to_string(p) + "\"";
      for (size_t b = 0; b < std::size(kBuckets); ++b) {
        out += "envoy_cluster_upstream_rq_time_bucket{" + labels + ",le=\"" + kBuckets[b] + "\"} " +
               std::to_string(b * 10) + "\n";
      }
      out += "envoy_cluster_upstream_rq_time_sum{" + labels + "} 12.5\n";
      out += "envoy_cluster_upstream_rq_time_count{" + labels + "} 110\n";
    }
  }
  return out;
}

void filtering(int services, int pods, int exported) {
  const std::string text = envoy_source(services, pods);
  const size_t series = static_cast<size_t>(services) * pods * 64;
  std::vector<metrics::MetricFamily> families;
  const double parse_ms = best_ms(3, [&] { families = std::move(metrics::parse_exposition(text)).value(); });
  std::vector<metrics::ExportedMetrics> exports;
  for (int s = 0; s < exported; ++s)
    exports.push_back({"svc-" + std::to_string(s), "alias-" + std::to_string(s), {"envoy_cluster_upstream_rq*"}});
  metrics::SourceSeries source;
  source.families = &families;
  source.service_label = "envoy_cluster_name";
  source.service_regex = Regex::compile("[^_]+_([^_]+)_.*").value();
  metrics::Selection sel;
  const double select_ms = best_ms(3, [&] {
    sel = metrics::select_exported({source}, exports, {{"envoy_response_code_class", "le"}, 1000000, 1 << 30});
  });

  // Prometheus doing the same at scrape time: keep the families and services, derive service,
  // keep the allowed labels. (It cannot sum the pods' series; it drops the duplicates.)
  const uint16_t port = free_port_range(1);
  HttpFixture fixture(text);
  TempDir dir;
  std::string services_regex;
  for (int s = 0; s < exported; ++s) services_regex += (s ? "|" : "") + std::string("svc-") + std::to_string(s);
  const int pid =
      start_prometheus(dir.path(), port,
                       "  - job_name: relabel\n"
                       "    scrape_timeout: 10s\n"
                       "    static_configs:\n      - targets: ['127.0.0.1:" +
                           std::to_string(fixture.port()) +
                           "']\n"
                           "    metric_relabel_configs:\n"
                           "      - {source_labels: [__name__], regex: 'envoy_cluster_upstream_rq.*', action: keep}\n"
                           "      - {source_labels: [envoy_cluster_name], regex: '[^_]+_(" +
                           services_regex +
                           ")_.*', action: keep}\n"
                           "      - {source_labels: [envoy_cluster_name], regex: '[^_]+_([^_]+)_.*', target_label: "
                           "service, replacement: '$1'}\n"
                           "      - {regex: '__name__|service|envoy_response_code_class|le', action: labelkeep}\n",
                       "10s");
  std::vector<double> prom_ms;
  wait_until(
      [&] {
        const json r = prometheus_query(port, "scrape_duration_seconds{job=\"relabel\"}[5m]");
        prom_ms.clear();
        if (r.empty()) return false;
        for (const auto& v : r[0]["values"]) prom_ms.push_back(std::stod(v[1].get<std::string>()) * 1000);
        return prom_ms.size() >= 3;
      },
      std::chrono::seconds(120));
  stop_process(pid);

  std::printf("### Filtering and relabelling a %zu-series source\n\n", series);
  std::printf(
      "%d services x %d pods, 64 series each (10 counters by 5 response classes, a 12-bucket histogram); one "
      "peer with %d exports naming `envoy_cluster_upstream_rq*`; %llu series leave (pods summed).\n\n",
      services, pods, exported, static_cast<unsigned long long>(sel.series));
  std::printf("| step | time (best of 3) | series per second |\n|---|---:|---:|\n");
  std::printf("| meshfed: parse | %.0f ms | %.2f M |\n", parse_ms, static_cast<double>(series) / parse_ms / 1000.0);
  std::printf("| meshfed: select and relabel | %.0f ms | %.2f M |\n", select_ms,
              static_cast<double>(series) / select_ms / 1000.0);
  std::printf("| meshfed: both | %.0f ms | %.2f M |\n", parse_ms + select_ms,
              static_cast<double>(series) / (parse_ms + select_ms) / 1000.0);
  if (prom_ms.empty()) {
    std::printf("| Prometheus 2.42 scrape with the equivalent metric_relabel_configs | (no scrape finished) | |\n\n");
  } else {
    const double median = percentile(prom_ms, 0.5);
    std::printf(
        "| Prometheus scrape with the equivalent `metric_relabel_configs` (median of %zu scrapes) | %.0f ms | %.2f M "
        "|\n\n",
        prom_ms.size(), median, static_cast<double>(series) / median / 1000.0);
  }
}

void federate(int services, int per_service, int requests) {
  Federation fed(std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}});
  // `per_service` series per service: 10 families by per_service/10 response classes, one pod.
  std::string text;
  for (int f = 0; f < 10; ++f) {
    const std::string name = std::string(kCounters[f]);
    text += "# HELP " + name + " Envoy cluster counter.\n# TYPE " + name + " counter\n";
    for (int s = 0; s < services; ++s) {
      for (int c = 0; c < per_service / 10; ++c) {
        text += name + "{envoy_cluster_name=\"default_svc-" + std::to_string(s) +
                "__zone-1_msvc_8443\",envoy_response_code_class=\"c" + std::to_string(c) + "\",pod=\"p\"} " +
                std::to_string(s + c) + "\n";
      }
    }
  }
  HttpFixture fixture(text);
  const uint16_t ports = free_port_range(2);
  auto& pci = fed.domain("pci");
  pci.config["metrics"] = {{"sources",
                            {{{"url", "http://127.0.0.1:" + std::to_string(fixture.port()) + "/metrics"},
                              {"interval_s", 5},
                              {"service_label", "envoy_cluster_name"},
                              {"service_regex", "[^_]+_([^_]+)_.*"}}}},
                           {"max_series_per_peer", 1000000},
                           {"max_bytes_per_peer", 268435456}};
  pci.save_config();
  json inventory = json::array();
  for (int s = 0; s < services; ++s) {
    inventory.push_back({{"mesh", "default"},
                         {"name", "svc-" + std::to_string(s)},
                         {"address", "127.0.0.1"},
                         {"ports", {{{"port", 8443}, {"protocol", "tcp"}}}}});
  }
  write_file(pci.dir / "inventory.json", json{{"services", inventory}}.dump());
  auto& internal = fed.domain("internal");
  internal.config["metrics"] = {{"listen", "127.0.0.1:" + std::to_string(ports)},
                                {"peer_scrape_interval_s", 2},
                                {"max_series_per_peer", 1000000},
                                {"max_bytes_per_peer", 268435456}};
  internal.save_config();
  fed.start_all();
  fed.connect();
  auto admin = fed.admin("pci");
  for (int s = 0; s < services; ++s) {
    auto r = api_call(*admin, "POST", "/api/v1/exports", pci.tokens["alice"],
                      json{{"mesh", "default"},
                           {"service", "svc-" + std::to_string(s)},
                           {"port", 8443},
                           {"peers", {"internal"}},
                           {"metrics", {"envoy_*"}},
                           {"reason", "bench"}});
    if (r.status != 201 ||
        api_call(*admin, "POST", "/api/v1/exports/" + r.body.value("id", "") + "/approve", pci.tokens["bob"]).status !=
            200) {
      std::fprintf(stderr, "cannot export svc-%d: %s\n", s, r.body.dump().c_str());
      std::exit(1);
    }
  }
  const size_t want = static_cast<size_t>(services) * per_service;
  std::string body;
  auto count_series = [](const std::string& t) {
    size_t n = 0;
    for (size_t at = 0; at < t.size();) {
      size_t end = t.find('\n', at);
      if (end == std::string::npos) end = t.size();
      n += end > at && t[at] != '#' ? 1 : 0;
      at = end + 1;
    }
    return n;
  };
  if (!wait_until(
          [&] {
            auto r = plain_get(ports, "/federate");
            body = r ? r->body : "";
            return count_series(body) >= want;
          },
          std::chrono::seconds(120))) {
    std::fprintf(stderr, "internal's /federate has %zu of %zu series\n%s\n", count_series(body), want,
                 fed.broker("internal").log().c_str());
    std::exit(1);
  }
  std::vector<double> ours;
  for (int i = 0; i < requests; ++i) {
    const auto t0 = SteadyClock::now();
    auto r = plain_get(ports, "/federate");
    ours.push_back(ms_since(t0));
    if (!r || r->status != 200) return (void)std::fprintf(stderr, "broker /federate failed\n");
  }

  const uint16_t prom_port = static_cast<uint16_t>(ports + 1);
  TempDir dir;
  const int pid = start_prometheus(dir.path(), prom_port,
                                   "  - job_name: federate\n"
                                   "    honor_labels: true\n"
                                   "    metrics_path: /federate\n"
                                   "    static_configs:\n      - targets: ['127.0.0.1:" +
                                       std::to_string(ports) + "']\n",
                                   "5s");
  const std::string match = "/federate?match[]=" + http::percent_encode("{meshfed_source_domain=\"pci\"}");
  std::string prom_body;
  wait_until(
      [&] {
        auto r = plain_get(prom_port, match);
        prom_body = r && r->status == 200 ? r->body : "";
        return count_series(prom_body) >= want;
      },
      std::chrono::seconds(120));
  std::vector<double> theirs;
  for (int i = 0; i < requests; ++i) {
    const auto t0 = SteadyClock::now();
    auto r = plain_get(prom_port, match);
    theirs.push_back(ms_since(t0));
  }
  stop_process(pid);

  std::printf("### GET /federate with %zu federated series\n\n", want);
  std::printf(
      "%d exports of %d series each, pci's source -> pci's broker -> mTLS -> internal's broker; %d sequential "
      "requests over loopback. Prometheus holds the same series (it scrapes internal's "
      "/federate) and serves them from its own /federate.\n\n",
      services, per_service, requests);
  std::printf("| server | series | body | p50 | p95 |\n|---|---:|---:|---:|---:|\n");
  std::printf("| meshfed `/federate` | %zu | %.1f MB | %.0f ms | %.0f ms |\n", count_series(body),
              static_cast<double>(body.size()) / 1e6, percentile(ours, 0.5), percentile(ours, 0.95));
  std::printf("| Prometheus 2.42 `/federate` | %zu | %.1f MB | %.0f ms | %.0f ms |\n\n", count_series(prom_body),
              static_cast<double>(prom_body.size()) / 1e6, percentile(theirs, 0.5), percentile(theirs, 0.95));
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // stdout carries the Markdown only
  const int source_series = argc > 1 ? std::atoi(argv[1]) : 1000000;
  const int federated_series = argc > 2 ? std::atoi(argv[2]) : 100000;
  const int pods = 25;
  filtering(std::max(1, source_series / 64 / pods), pods, 50);
  federate(100, std::max(10, federated_series / 100), 20);
  return 0;
}
