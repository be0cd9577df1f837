#include "meshfed/metrics/registry.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "support/test_support.hpp"

namespace meshfed::metrics {
namespace {

void fill(Registry& r) {
  r.counter("meshfed_test_requests_total", "Requests.", {"route", "code"}).inc({"/api/v1/exports", "200"}, 3);
  r.gauge("meshfed_test_exports", "Exports by state.", {"state"}).set({"pending"}, 2);
  auto& h = r.histogram("meshfed_test_duration_seconds", "Durations.", {"route"}, {0.1, 1});
  h.observe({"/x"}, 0.05);
  h.observe({"/x"}, 0.5);
  h.observe({"/x"}, 5);
  r.gauge("meshfed_test_weird", "Label escaping.", {"v"}).set({"a\"b\\c\nd"}, 1.5);
  r.gauge("meshfed_test_optional", "An empty label value is no label.", {"role", "peer"}).set({"ca", ""}, 7);
}

std::string sample() {
  Registry r;
  fill(r);
  return r.expose();
}

TEST(Registry, ExposesCountersGaugesAndCumulativeHistograms) {
  const std::string text = sample();
  EXPECT_NE(text.find("# TYPE meshfed_test_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("meshfed_test_requests_total{route=\"/api/v1/exports\",code=\"200\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("meshfed_test_duration_seconds_bucket{route=\"/x\",le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("meshfed_test_duration_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("meshfed_test_duration_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("meshfed_test_duration_seconds_sum{route=\"/x\"} 5.55\n"), std::string::npos);
  EXPECT_NE(text.find("meshfed_test_weird{v=\"a\\\"b\\\\c\\nd\"} 1.5\n"), std::string::npos);
}

TEST(Registry, LeavesEmptyLabelsOut) {
  EXPECT_NE(sample().find("meshfed_test_optional{role=\"ca\"} 7\n"), std::string::npos) << sample();
}

TEST(Registry, OneFamilysSeriesWithOneLabelValueAreExposedAlone) {
  Registry r;
  fill(r);
  const std::string only = r.expose_where("meshfed_test_requests_total", "code", "200");
  EXPECT_EQ(only,
            "# HELP meshfed_test_requests_total Requests.\n# TYPE meshfed_test_requests_total counter\n"
            "meshfed_test_requests_total{route=\"/api/v1/exports\",code=\"200\"} 3\n");
  EXPECT_EQ(r.expose_where("meshfed_test_requests_total", "code", "500").find("meshfed_test_requests_total{"),
            std::string::npos);
  EXPECT_EQ(r.expose_where("meshfed_test_requests_total", "no_such_label", "200").find("{"), std::string::npos);
  EXPECT_EQ(r.expose_where("meshfed_test_absent", "code", "200"), "");
}

TEST(Registry, PromtoolAcceptsTheExposition) { EXPECT_EQ(testing::promtool_check_metrics(sample()), ""); }

TEST(Registry, FormatsSpecialValues) {
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(42), "42");
}

TEST(Registry, CollectorsRunBeforeExposition) {
  Registry r;
  auto& g = r.gauge("meshfed_test_collected", "Collected.");
  int calls = 0;
  r.on_collect([&] { g.set({}, ++calls); });
  EXPECT_NE(r.expose().find("meshfed_test_collected 1\n"), std::string::npos);
  EXPECT_NE(r.expose().find("meshfed_test_collected 2\n"), std::string::npos);
}

}  // namespace
}  // namespace meshfed::metrics
