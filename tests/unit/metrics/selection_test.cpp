#include "meshfed/metrics/export_selection.hpp"

#include <gtest/gtest.h>

#include "meshfed/metrics/selector.hpp"
#include "unit/metrics/parse_ok.hpp"

namespace meshfed::metrics {
namespace {

const std::string kEnvoy =
    "# TYPE envoy_cluster_upstream_rq_total counter\n"
    "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-1\","
    "instance=\"10.0.0.7:5670\"} 10\n"
    "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-2\","
    "instance=\"10.0.0.8:5670\"} 5\n"
    "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"default_ledger__zone-1_msvc_5432\",pod=\"p-3\"} 99\n"
    "# TYPE envoy_cluster_upstream_rq_time histogram\n"
    "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-1\","
    "le=\"5\"} 3\n"
    "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-1\","
    "le=\"+Inf\"} 4\n"
    "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-2\","
    "le=\"5\"} 1\n"
    "envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-2\","
    "le=\"+Inf\"} 2\n"
    "envoy_cluster_upstream_rq_time_sum{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-1\"} "
    "7.5\n"
    "envoy_cluster_upstream_rq_time_sum{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-2\"} "
    "1.5\n"
    "envoy_cluster_upstream_rq_time_count{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-1\"} "
    "4\n"
    "envoy_cluster_upstream_rq_time_count{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\",pod=\"p-2\"} "
    "2\n"
    "# TYPE envoy_server_live gauge\n"
    "envoy_server_live{envoy_cluster_name=\"default_payments-api__zone-1_msvc_8443\"} 1\n";

SourceSeries envoy_source(const std::vector<MetricFamily>& families) {
  SourceSeries s;
  s.families = &families;
  s.service_label = "envoy_cluster_name";
  s.service_regex = Regex::compile("[^_]+_([^_]+)_.*").value();
  return s;
}

TEST(ExportSelection, OnlyNamedFamiliesOfTheServiceLeaveWithTheAliasAndSummedAcrossPods) {
  const auto families = parse_ok(kEnvoy);
  const auto sel = select_exported(
      {envoy_source(families)},
      {{"payments-api", "payments", {"envoy_cluster_upstream_rq_total", "envoy_cluster_upstream_rq_time"}}},
      {{"le"}, 100, 1 << 20});
  EXPECT_EQ(sel.text,
            "# TYPE envoy_cluster_upstream_rq_time histogram\n"
            "envoy_cluster_upstream_rq_time_bucket{le=\"5\",service=\"payments\"} 4\n"
            "envoy_cluster_upstream_rq_time_bucket{le=\"+Inf\",service=\"payments\"} 6\n"
            "envoy_cluster_upstream_rq_time_sum{service=\"payments\"} 9\n"
            "envoy_cluster_upstream_rq_time_count{service=\"payments\"} 6\n"
            "# TYPE envoy_cluster_upstream_rq_total counter\n"
            "envoy_cluster_upstream_rq_total{service=\"payments\"} 15\n");
  EXPECT_EQ(sel.series, 5u);
}

TEST(ExportSelection, PrefixesSelectFamiliesAndTheBucketBoundSurvivesAnyAllowlist) {
  const auto families = parse_ok(kEnvoy);
  const auto sel = select_exported({envoy_source(families)},
                                   {{"payments-api", "pay", {"envoy_cluster_upstream_rq_ti*"}}}, {{}, 100, 1 << 20});
  EXPECT_NE(sel.text.find("envoy_cluster_upstream_rq_time_bucket{le=\"5\",service=\"pay\"} 4\n"), std::string::npos)
      << sel.text;
  EXPECT_EQ(sel.text.find("rq_total"), std::string::npos);
}

TEST(ExportSelection, ServiceLabelWithoutRegexAndAPeerSentServiceLabelIsReplaced) {
  const auto families = parse_ok(
      "# TYPE requests counter\n"
      "requests{kuma_io_service=\"web\",service=\"evil\",code=\"200\"} 1 1000\n"
      "requests{kuma_io_service=\"web\",code=\"200\",pod=\"x\"} 2 3000\n"
      "requests{kuma_io_service=\"other\",code=\"200\"} 7\n");
  SourceSeries source;
  source.families = &families;
  source.service_label = "kuma_io_service";
  const auto sel = select_exported({source}, {{"web", "web-for-you", {"requests"}}}, {{"code"}, 100, 1 << 20});
  EXPECT_EQ(sel.text, "# TYPE requests counter\nrequests{code=\"200\",service=\"web-for-you\"} 3 3000\n");
}

TEST(ExportSelection, CollidingSummaryQuantilesAreDroppedAndCounted) {
  const auto families = parse_ok(
      "# TYPE rpc summary\n"
      "rpc{svc=\"a\",pod=\"1\",quantile=\"0.5\"} 10\n"
      "rpc{svc=\"a\",pod=\"2\",quantile=\"0.5\"} 20\n"
      "rpc_sum{svc=\"a\",pod=\"1\"} 5\n"
      "rpc_sum{svc=\"a\",pod=\"2\"} 6\n"
      "rpc_count{svc=\"a\",pod=\"1\"} 1\n"
      "rpc_count{svc=\"a\",pod=\"2\"} 2\n");
  SourceSeries source;
  source.families = &families;
  source.service_label = "svc";
  const auto sel = select_exported({source}, {{"a", "a", {"rpc"}}}, {{}, 100, 1 << 20});
  EXPECT_EQ(sel.text, "# TYPE rpc summary\nrpc_sum{service=\"a\"} 11\nrpc_count{service=\"a\"} 3\n");
  EXPECT_EQ(sel.colliding_quantiles, 1u);
}

TEST(ExportSelection, CapsLeaveWholeFamiliesOutAndSayHowMany) {
  const auto families = parse_ok(kEnvoy);
  const std::vector<ExportedMetrics> all = {{"payments-api", "p", {"envoy_*"}}};
  const auto by_series = select_exported({envoy_source(families)}, all, {{}, 3, 1 << 20});
  EXPECT_EQ(by_series.series, 2u);  // the 4-series histogram does not fit; rq_total and server_live do
  EXPECT_EQ(by_series.series_over_cap, 4u);
  EXPECT_EQ(by_series.text.find("rq_time"), std::string::npos);
  const auto by_bytes = select_exported({envoy_source(families)}, all, {{}, 100, 100});
  EXPECT_LT(by_bytes.text.size(), 100u);
  EXPECT_GT(by_bytes.bytes_over_cap, 0u);
}

TEST(ExportSelection, SeriesOutsideTheRegexOrOfOtherServicesNeverLeave) {
  const auto families = parse_ok(kEnvoy + "envoy_cluster_upstream_cx_total{envoy_cluster_name=\"localhost:8443\"} 3\n");
  const auto sel = select_exported({envoy_source(families)}, {{"ledger", "ledger", {"envoy_*"}}}, {{}, 100, 1 << 20});
  EXPECT_EQ(sel.text,
            "# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total{service=\"ledger\"} 99\n");
}

TEST(Selector, MatchesLikePrometheus) {
  Sample s{"envoy_rq_total", {{"service", "payments"}, {"code", "200"}}, 1, std::nullopt};
  auto yes = [&](const std::string& text) {
    auto sel = Selector::parse(text);
    EXPECT_TRUE(sel.ok()) << text << ": " << (sel.ok() ? "" : sel.error().message);
    return sel.ok() && sel->matches(s);
  };
  EXPECT_TRUE(yes("envoy_rq_total"));
  EXPECT_TRUE(yes("{service=\"payments\"}"));
  EXPECT_TRUE(yes("envoy_rq_total{service=~\"pay.*\", code!=\"500\"}"));
  EXPECT_TRUE(yes("{__name__=~\"envoy_.+\",missing=\"\"}"));
  EXPECT_FALSE(yes("{service=~\"pay\"}"));  // anchored
  EXPECT_FALSE(yes("envoy_rq_total{service!~\"pay.*\"}"));
  EXPECT_FALSE(yes("other"));
  EXPECT_FALSE(yes("{missing!=\"\"}"));
}

TEST(Selector, RefusesWhatItCannotReadOrWhatMatchesEverything) {
  EXPECT_FALSE(Selector::parse("").ok());
  EXPECT_FALSE(Selector::parse("{a=~\".*\"}").ok());
  EXPECT_FALSE(Selector::parse("{a=\"x\"").ok());
  EXPECT_FALSE(Selector::parse("{a~\"x\"}").ok());
  EXPECT_FALSE(Selector::parse("{a=~\"(\"}").ok());
  EXPECT_EQ(Selector::parse("x{a=1}").error().message,
            "invalid series selector \"x{a=1}\": expected a quoted value for a");
}

// /federate's caps: at most 16 selectors of at most 1024 bytes, each refused by name before
// any regex is compiled.
TEST(Selector, AFederateRequestHoldsAtMost16SelectorsOfAtMost1024Bytes) {
  const std::string longest = "up{job=~\"" + std::string(kMaxSelectorBytes - 11, 'a') + "\"}";
  ASSERT_EQ(longest.size(), kMaxSelectorBytes);
  EXPECT_TRUE(parse_match_params(std::vector<std::string>(kMaxMatchParams, longest)).ok());
  auto too_long = parse_match_params({longest + " "});
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().message, "a match[] selector is longer than 1024 bytes");
  auto too_many = parse_match_params(std::vector<std::string>(kMaxMatchParams + 1, "up"));
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().message, "at most 16 match[] selectors, got 17");
}

}  // namespace
}  // namespace meshfed::metrics
