#include "meshfed/metrics/counter_reports.hpp"

#include <gtest/gtest.h>

namespace meshfed::metrics {
namespace {

class CounterReportsTest : public ::testing::Test {
 protected:
  Registry registry_;
  Family& denied_ = registry_.counter("meshfed_test_denied_total", "Denied.", {"export", "peer"});
};

TEST_F(CounterReportsTest, TotalsAddWhatTheyGrewBy) {
  CounterReports reports(denied_, 4);
  reports.take("a", {{{"x", "internal"}, 3}});
  reports.take("a", {{{"x", "internal"}, 5}, {{"y", "dmz"}, 1}});
  reports.take("a", {{{"x", "internal"}, 5}});  // no growth: nothing added
  EXPECT_EQ(denied_.value({"x", "internal"}), 5);
  EXPECT_EQ(denied_.value({"y", "dmz"}), 1);
}

TEST_F(CounterReportsTest, ARestartedReporterIsANewInstanceAndTheCounterNeverGoesBack) {
  CounterReports reports(denied_, 4);
  reports.take("first-run", {{{"x", "internal"}, 7}});
  reports.take("second-run", {{{"x", "internal"}, 2}});  // counted from zero again after a restart
  EXPECT_EQ(denied_.value({"x", "internal"}), 9);
  reports.take("second-run", {{{"x", "internal"}, 1}});  // lower than its last: taken as counted from zero
  EXPECT_EQ(denied_.value({"x", "internal"}), 10);
}

TEST_F(CounterReportsTest, RemembersAtMostItsBoundOfInstancesLeastRecentFirstForgotten) {
  CounterReports reports(denied_, 2);
  for (int i = 0; i < 10; ++i) reports.take("run-" + std::to_string(i), {{{"x", "internal"}, 1}});
  EXPECT_EQ(reports.instances(), 2u);
  EXPECT_EQ(denied_.value({"x", "internal"}), 10);
  reports.take("run-9", {{{"x", "internal"}, 4}});  // still remembered: only its growth counts
  EXPECT_EQ(denied_.value({"x", "internal"}), 13);
}

}  // namespace
}  // namespace meshfed::metrics
