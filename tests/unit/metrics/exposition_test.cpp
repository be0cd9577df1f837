#include "meshfed/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "unit/metrics/parse_ok.hpp"

namespace meshfed::metrics {
namespace {

std::string parse_error(const std::string& text) {
  auto r = parse_exposition(text);
  return r.ok() ? "(parsed)" : r.error().message;
}

TEST(Exposition, ReadsHelpTypeLabelsAndTimestamps) {
  const auto families = parse_ok(
      "# HELP http_requests_total The total number of HTTP requests.\n"
      "# TYPE http_requests_total counter\n"
      "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
      "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
      "\n"
      "# A plain comment\n"
      "metric_without_timestamp_and_labels 12.47\n");
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "http_requests_total");
  EXPECT_EQ(families[0].type, MetricType::kCounter);
  EXPECT_EQ(families[0].help, "The total number of HTTP requests.");
  ASSERT_EQ(families[0].samples.size(), 2u);
  EXPECT_EQ(*families[0].samples[1].label("code"), "400");
  EXPECT_EQ(families[0].samples[1].value, 3);
  EXPECT_EQ(families[0].samples[1].timestamp_ms, 1395066363000);
  EXPECT_EQ(families[1].type, MetricType::kUntyped);
  EXPECT_FALSE(families[1].samples[0].timestamp_ms);
  EXPECT_DOUBLE_EQ(families[1].samples[0].value, 12.47);
}

TEST(Exposition, UnescapesLabelValuesAndHelp) {
  const auto families = parse_ok(
      "# HELP msdos_file_access_time_seconds Help with \\\\ and \\n inside.\n"
      "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} "
      "1.458255915e9\n"
      "odd{a=\"}\",b=\",\",c=\"=\", } 1\n");
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].help, "Help with \\ and \n inside.");
  const auto& s = families[0].samples.at(0);
  EXPECT_EQ(*s.label("path"), "C:\\DIR\\FILE.TXT");
  EXPECT_EQ(*s.label("error"), "Cannot find file:\n\"FILE.TXT\"");
  EXPECT_EQ(s.value, 1.458255915e9);
  EXPECT_EQ(*families[1].samples.at(0).label("a"), "}");
  EXPECT_EQ(*families[1].samples.at(0).label("b"), ",");
  EXPECT_EQ(*families[1].samples.at(0).label("c"), "=");
}

TEST(Exposition, ReadsNaNAndInfinities) {
  const auto families = parse_ok("a NaN\nb +Inf\nc -Inf\nd Inf\ne -0.5e-3\nf nan\n");
  ASSERT_EQ(families.size(), 6u);
  EXPECT_TRUE(std::isnan(families[0].samples[0].value));
  EXPECT_EQ(families[1].samples[0].value, INFINITY);
  EXPECT_EQ(families[2].samples[0].value, -INFINITY);
  EXPECT_EQ(families[3].samples[0].value, INFINITY);
  EXPECT_DOUBLE_EQ(families[4].samples[0].value, -0.0005);
  EXPECT_TRUE(std::isnan(families[5].samples[0].value));
}

TEST(Exposition, KeepsHistogramsAndSummariesWhole) {
  const auto families = parse_ok(
      "# TYPE rq_time histogram\n"
      "rq_time_bucket{le=\"0.05\"} 24054\n"
      "rq_time_bucket{le=\"+Inf\"} 144320\n"
      "rq_time_sum 53423\n"
      "rq_time_count 144320\n"
      "# TYPE rpc summary\n"
      "rpc{quantile=\"0.5\"} 4773\n"
      "rpc_sum 1.7560473e+07\n"
      "rpc_count 2693\n"
      "rq_time_count_total 3\n");
  ASSERT_EQ(families.size(), 3u);
  EXPECT_EQ(families[0].type, MetricType::kHistogram);
  EXPECT_EQ(families[0].samples.size(), 4u);
  EXPECT_EQ(families[1].type, MetricType::kSummary);
  EXPECT_EQ(families[1].samples.size(), 3u);
  EXPECT_EQ(families[2].name, "rq_time_count_total");
}

TEST(Exposition, ErrorsNameTheLineAndTheProblem) {
  EXPECT_EQ(parse_error("ok 1\nbad{a=\"x} 1\n"), "line 2: unterminated value of label a of bad");
  EXPECT_EQ(parse_error("x{a=\"1\",a=\"2\"} 1\n"), "line 1: label a twice in x");
  EXPECT_EQ(parse_error("x one\n"), "line 1: invalid value \"one\" for x");
  EXPECT_EQ(parse_error("x 1 soon\n"), "line 1: invalid timestamp \"soon\" for x");
  EXPECT_EQ(parse_error("# TYPE x meter\n"), "line 1: unknown metric type \"meter\" for x");
  EXPECT_EQ(parse_error("# TYPE x counter\n# TYPE x gauge\n"), "line 2: second TYPE for x");
  EXPECT_EQ(parse_error("x 1\n# TYPE x counter\n"), "line 2: TYPE for x after its samples");
  EXPECT_EQ(parse_error("# TYPE h histogram\nh_bucket 1\n"), "line 2: histogram bucket h_bucket without an le label");
  EXPECT_EQ(parse_error("# TYPE h histogram\nh 1\n"),
            "line 2: h is a histogram; its series end in _bucket, _sum or _count");
  EXPECT_EQ(parse_error("x{a=\"\\q\"} 1\n"), "line 1: invalid escape \\q in label a of x");
  EXPECT_EQ(parse_error("{a=\"1\"} 1\n"), "line 1: expected a metric name, got \"{a=\"1\"} 1\"");
}

TEST(Exposition, ReservedLabelNamesAndOversizedLabelSetsAreRefused) {
  EXPECT_EQ(parse_error("x{__name__=\"y\"} 1\n"),
            "line 1: label name __name__ of x is reserved (names starting with __ are Prometheus's)");
  EXPECT_EQ(parse_error("x{__meta_anything=\"y\"} 1\n").substr(0, 40), "line 1: label name __meta_anything of x ");
  EXPECT_TRUE(parse_exposition("x{_single=\"y\"} 1\n").ok()) << "one underscore is an ordinary name";
  std::string labels;
  for (size_t i = 0; i < kMaxLabelsPerSeries; ++i) labels += (i ? ",l" : "l") + std::to_string(i) + "=\"v\"";
  EXPECT_TRUE(parse_exposition("x{" + labels + "} 1\n").ok()) << "exactly the cap is fine";
  // 40,000 labels on one series: refused at the 65th, after reading no more of the line.
  std::string flood = "x{";
  for (int i = 0; i < 40000; ++i) flood += (i ? ",l" : "l") + std::to_string(i) + "=\"v\"";
  EXPECT_EQ(parse_error(flood + "} 1\n"), "line 1: x has more than 64 labels");
  EXPECT_TRUE(parse_exposition("x{a=\"" + std::string(kMaxLabelValueBytes, 'v') + "\"} 1\n").ok());
  EXPECT_EQ(parse_error("x{a=\"" + std::string(kMaxLabelValueBytes + 1, 'v') + "\"} 1\n"),
            "line 1: the value of label a of x is longer than 4096 bytes");
}

TEST(Exposition, WritesWhatItReads) {
  const std::string text =
      "# HELP rq_time Latency with a \\\\ and a \\n.\n"
      "# TYPE rq_time histogram\n"
      "rq_time_bucket{le=\"0.05\",service=\"a\\\"b\"} 24054 1700000000000\n"
      "rq_time_bucket{le=\"+Inf\",service=\"a\\\"b\"} 144320 1700000000000\n"
      "rq_time_sum{service=\"a\\\"b\"} 53423.5 1700000000000\n"
      "rq_time_count{service=\"a\\\"b\"} 144320 1700000000000\n"
      "# TYPE up gauge\n"
      "up NaN\n"
      "up{x=\"y\"} -Inf\n";
  std::string written;
  write_exposition(parse_ok(text), written);
  EXPECT_EQ(written, text);
}

}  // namespace
}  // namespace meshfed::metrics
