#include "meshfed/federation/peer_metrics.hpp"

#include <gtest/gtest.h>

#include <set>

#include "support/test_support.hpp"
#include "unit/metrics/parse_ok.hpp"

namespace meshfed::federation {
namespace {

using metrics::MetricFamily;
using metrics::MetricType;

std::vector<MetricFamily> accepted(const std::string& peer, const std::string& text) {
  return accept_peer_metrics(metrics::parse_ok(text), peer, {"pay"}, 1000).families;
}

std::string federate(const std::vector<std::vector<MetricFamily>>& peers, uint64_t* conflicts = nullptr) {
  std::vector<const std::vector<MetricFamily>*> in;
  for (const auto& p : peers) in.push_back(&p);
  std::string out;
  metrics::write_exposition(merge_peer_metrics(
                                in, [](const metrics::Sample&) { return true; }, conflicts),
                            out);
  return out;
}

// Every series of the exposition, as "name{labels} value" lines, to compare regardless of grouping.
std::multiset<std::string> series_of(const std::string& exposition) {
  std::multiset<std::string> out;
  for (const auto& f : metrics::parse_ok(exposition)) {
    for (const auto& s : f.samples) {
      std::string line;
      metrics::write_sample(s, line);
      out.insert(line);
    }
  }
  return out;
}

TEST(PeerMetrics, MeshfedsOwnFamiliesAndSeriesOfOtherServicesStayOut) {
  auto got = accept_peer_metrics(metrics::parse_ok("# TYPE meshfed_exports gauge\n"
                                                   "meshfed_exports{service=\"pay\"} 1\n"
                                                   "# TYPE envoy_rq_total counter\n"
                                                   "envoy_rq_total{service=\"pay\",meshfed_source_domain=\"pci\"} 5\n"
                                                   "envoy_rq_total{service=\"ledger\"} 7\n"),
                                 "dmz", {"pay"}, 1000);
  ASSERT_EQ(got.families.size(), 1u);
  EXPECT_EQ(got.families[0].name, "envoy_rq_total");
  ASSERT_EQ(got.families[0].samples.size(), 1u);
  EXPECT_EQ(*got.families[0].samples[0].label("meshfed_source_domain"), "dmz") << "the peer's claim is replaced";
  EXPECT_EQ(got.reserved, 1u);
  EXPECT_EQ(got.foreign, 1u);
}

TEST(PeerMetrics, ThePeersCountOfOurRefusedRequestsComesInAndNoOtherDomainsSeries) {
  const std::string text =
      "# TYPE meshfed_gateway_l7_denied_total counter\n"
      "meshfed_gateway_l7_denied_total{export=\"rates-1\",peer=\"internal\"} 3\n"
      "meshfed_gateway_l7_denied_total{export=\"rates-1\",peer=\"dmz\"} 9\n"
      "meshfed_gateway_l7_denied_total{peer=\"internal\"} 1\n";
  auto got = accept_peer_metrics(metrics::parse_ok(text), "pci", {"pay"}, 1000, "internal");
  ASSERT_EQ(got.families.size(), 1u);
  ASSERT_EQ(got.families[0].samples.size(), 1u);
  EXPECT_EQ(*got.families[0].samples[0].label("export"), "rates-1");
  EXPECT_EQ(*got.families[0].samples[0].label("meshfed_source_domain"), "pci");
  EXPECT_EQ(got.foreign, 2u) << "another caller's series, and one without its export";
  // As any other type, or for a broker that does not know its own name, it is reserved.
  got = accept_peer_metrics(metrics::parse_ok("# TYPE meshfed_gateway_l7_denied_total gauge\n"
                                              "meshfed_gateway_l7_denied_total{export=\"a\",peer=\"internal\"} 3\n"),
                            "pci", {}, 1000, "internal");
  EXPECT_TRUE(got.families.empty());
  EXPECT_EQ(got.reserved, 1u);
  EXPECT_TRUE(accept_peer_metrics(metrics::parse_ok(text), "pci", {}, 1000).families.empty());
}

TEST(PeerMetrics, TwoPeersThatDisagreeOnATypeAreBothServedUntyped) {
  const auto honest = accepted("zzz",
                               "# HELP envoy_rq_total Requests.\n# TYPE envoy_rq_total counter\n"
                               "envoy_rq_total{service=\"pay\"} 5\n");
  const auto liar = accepted("aaa", "# TYPE envoy_rq_total gauge\nenvoy_rq_total{service=\"pay\"} 1\n");
  uint64_t conflicts = 0;
  const std::string out = federate({liar, honest}, &conflicts);
  EXPECT_EQ(conflicts, 1u);
  EXPECT_EQ(series_of(out),
            (std::multiset<std::string>{"envoy_rq_total{service=\"pay\",meshfed_source_domain=\"aaa\"} 1\n",
                                        "envoy_rq_total{service=\"pay\",meshfed_source_domain=\"zzz\"} 5\n"}))
      << "the first peer by name no longer hides the other\n"
      << out;
  EXPECT_NE(out.find("# TYPE envoy_rq_total untyped"), std::string::npos) << out;
  EXPECT_EQ(testing::promtool_parse_problems(out), "");
  // Agreeing peers keep the type and the help.
  const auto other = accepted("mmm", "# TYPE envoy_rq_total counter\nenvoy_rq_total{service=\"pay\"} 2\n");
  EXPECT_NE(federate({honest, other}).find("# TYPE envoy_rq_total counter"), std::string::npos);
}

TEST(PeerMetrics, AHistogramsSeriesNamedLikeAnotherPeersFamilyKeepBothAndOneValidDocument) {
  const auto histogram = accepted("zzz",
                                  "# TYPE lat histogram\n"
                                  "lat_bucket{service=\"pay\",le=\"1\"} 1\nlat_bucket{service=\"pay\",le=\"+Inf\"} 2\n"
                                  "lat_sum{service=\"pay\"} 3\nlat_count{service=\"pay\"} 2\n");
  const auto clash = accepted("aaa",
                              "# TYPE lat_sum gauge\nlat_sum{service=\"pay\"} 9\n"
                              "# TYPE lat_count_total counter\nlat_count_total{service=\"pay\"} 1\n");
  const std::string out = federate({clash, histogram});
  auto expected = series_of(federate({histogram}));
  for (const auto& s : series_of(federate({clash}))) expected.insert(s);
  EXPECT_EQ(series_of(out), expected) << out;
  EXPECT_EQ(testing::promtool_parse_problems(out), "");
  EXPECT_NE(out.find("# TYPE lat_count_total counter"), std::string::npos) << "families not involved keep their type";
  // Each name is one family.
  std::set<std::string> names;
  for (const auto& f : metrics::parse_ok(out)) EXPECT_TRUE(names.insert(f.name).second) << f.name;
}

TEST(PeerMetrics, WhatAnyPeerSendsTheFederatedDocumentStaysReadable) {
  const std::vector<std::string> hostile = {
      "# TYPE x summary\nx{service=\"pay\",quantile=\"0.5\"} 1\nx_sum{service=\"pay\"} 1\nx_count{service=\"pay\"} 1\n",
      "# TYPE x histogram\nx_bucket{service=\"pay\",le=\"1\"} 1\nx_count{service=\"pay\"} 1\n",
      "# TYPE x_count counter\nx_count{service=\"pay\"} 4\n# TYPE x_bucket gauge\nx_bucket{service=\"pay\"} 1\n",
      "x{service=\"pay\"} 1\nx_sum{service=\"pay\"} 2\n",
      "# HELP x line\\nbreak and \\\\ slash\n# TYPE x gauge\nx{service=\"pay\",v=\"a\\\"b\\nc\"} NaN\n",
  };
  std::vector<std::vector<MetricFamily>> peers;
  for (size_t i = 0; i < hostile.size(); ++i) peers.push_back(accepted("p" + std::to_string(i), hostile[i]));
  const std::string out = federate(peers);
  EXPECT_EQ(testing::promtool_parse_problems(out), "") << out;
  size_t in = 0;
  for (const auto& p : peers)
    for (const auto& f : p) in += f.samples.size();
  EXPECT_EQ(series_of(out).size(), in) << "no peer's series hidden\n" << out;
}

}  // namespace
}  // namespace meshfed::federation
