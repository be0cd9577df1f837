// The exporter against real HTTP sources on loopback: what each peer gets, and how a source
// that is too big, too slow or gone is handled.
#include "meshfed/federation/metrics_export.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::federation {
namespace {

const std::string kSource =
    "# TYPE requests_total counter\n"
    "requests_total{kuma_io_service=\"web\",pod=\"a\"} 1\n"
    "requests_total{kuma_io_service=\"web\",pod=\"b\"} 2\n"
    "requests_total{kuma_io_service=\"db\",pod=\"c\"} 4\n";

config::MetricsSource source_at(uint16_t port) {
  config::MetricsSource s;
  s.url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  s.interval = std::chrono::seconds(1);
  s.timeout = std::chrono::seconds(1);
  return s;
}

class MetricsExporterTest : public ::testing::Test {
 protected:
  void start(std::vector<config::MetricsSource> sources, metrics::SelectionLimits limits = {{}, 1000, 1 << 20}) {
    MetricsExportSettings s;
    s.sources = std::move(sources);
    s.limits = std::move(limits);
    s.keep_for = std::chrono::seconds(2);
    exporter_ = std::make_unique<MetricsExporter>(s, registry_, [this] {
      ExportedMetricsByPeer out;
      if (exported_) out["internal"].push_back({"web", "web-alias", {"requests_total"}});
      return out;
    });
    exporter_->start();
  }

  bool metric_has(const std::string& text) { return registry_.expose().find(text) != std::string::npos; }

  metrics::Registry registry_;
  std::atomic<bool> exported_{true};
  std::unique_ptr<MetricsExporter> exporter_;
};

TEST_F(MetricsExporterTest, EachPeerGetsItsSelectionAndLosesItAtOnceWhenTheExportGoes) {
  testing::HttpFixture source(kSource);
  start({source_at(source.port())});
  ASSERT_TRUE(testing::wait_until([&] { return !exporter_->text_for("internal").empty(); }));
  EXPECT_EQ(exporter_->text_for("internal"),
            "# TYPE requests_total counter\nrequests_total{service=\"web-alias\"} 3\n");
  EXPECT_EQ(exporter_->text_for("dmz"), "");
  EXPECT_TRUE(metric_has("meshfed_metrics_exported_series{peer=\"internal\"} 1"));
  EXPECT_TRUE(metric_has("meshfed_metrics_source_series{source=\"http://127.0.0.1:" + std::to_string(source.port()) +
                         "/metrics\"} 3"));
  exported_ = false;
  exporter_->exports_changed();
  EXPECT_TRUE(testing::wait_until([&] { return exporter_->text_for("internal").empty(); }));
  EXPECT_TRUE(testing::wait_until([&] { return metric_has("meshfed_metrics_exported_series{peer=\"internal\"} 0"); }));
}

TEST_F(MetricsExporterTest, ASourceOverMaxBytesIsRefusedAndCounted) {
  testing::HttpFixture source(kSource);
  auto s = source_at(source.port());
  s.max_bytes = 10;
  start({s});
  EXPECT_TRUE(testing::wait_until([&] { return metric_has("result=\"error\"} 1"); }));
  EXPECT_EQ(exporter_->text_for("internal"), "");
}

TEST_F(MetricsExporterTest, ASourceThatNeverAnswersTimesOut) {
  testing::LogCapture log;
  testing::EchoServer silent(testing::EchoServer::Mode::kNeverRead);
  start({source_at(silent.port())});  // timeout_s 1
  EXPECT_TRUE(testing::wait_until([&] { return metric_has("result=\"error\"} 1"); }));
  EXPECT_EQ(silent.connections(), 1);
  EXPECT_TRUE(
      log.contains("no complete response from 127.0.0.1:" + std::to_string(silent.port()) + " within the 1 s deadline"))
      << log.text();
}

TEST_F(MetricsExporterTest, AHangingSourceDoesNotHoldUpStop) {
  testing::EchoServer silent(testing::EchoServer::Mode::kNeverRead);
  auto slow = source_at(silent.port());
  slow.timeout = std::chrono::seconds(3600);  // a stop that waited for it would take an hour
  start({slow});
  ASSERT_TRUE(testing::wait_until([&] { return silent.connections() == 1; }));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    exporter_->stop();
    stopped = true;
  });
  EXPECT_TRUE(testing::wait_until([&] { return stopped.load(); }));  // the scrape in flight was broken off
  stopper.join();
  EXPECT_TRUE(metric_has("result=\"error\"} 1"));
}

TEST_F(MetricsExporterTest, ASourceThatGoesAwayTakesItsSeriesWithItAfterTheStalePeriod) {
  auto fixture = std::make_unique<testing::HttpFixture>(kSource);
  start({source_at(fixture->port())});
  ASSERT_TRUE(testing::wait_until([&] { return !exporter_->text_for("internal").empty(); }));
  fixture.reset();  // connection refused from now on
  EXPECT_TRUE(testing::wait_until([&] { return exporter_->text_for("internal").empty(); }));
}

TEST_F(MetricsExporterTest, ACapHitIsCounted) {
  testing::HttpFixture source(kSource);
  start({source_at(source.port())}, {{}, 0, 1 << 20});
  EXPECT_TRUE(testing::wait_until(
      [&] { return metric_has("meshfed_metrics_cap_hits_total{peer=\"internal\",cap=\"series\"}"); }));
  EXPECT_EQ(exporter_->text_for("internal"), "");
}

}  // namespace
}  // namespace meshfed::federation
