#include "meshfed/core/failure_budget.hpp"

#include <gtest/gtest.h>

namespace meshfed {
namespace {

using std::chrono::seconds;

class FailureBudgetTest : public ::testing::Test {
 protected:
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
};

TEST_F(FailureBudgetTest, ASourceMayFailItsBurstThenWaitsForTheRefill) {
  FailureBudget budget(clock_, {3, Millis(2000), seconds(60), 16});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(budget.retry_after("10.0.0.1"), seconds(0)) << "failure " << i;
    budget.failed("10.0.0.1");
  }
  EXPECT_EQ(budget.retry_after("10.0.0.1"), seconds(2));
  EXPECT_EQ(budget.retry_after("10.0.0.2"), seconds(0)) << "another source keeps its own budget";
  clock_.advance(Millis(1500));
  EXPECT_EQ(budget.retry_after("10.0.0.1"), seconds(1)) << "rounded up: never 0 while still refused";
  clock_.advance(Millis(500));
  EXPECT_EQ(budget.retry_after("10.0.0.1"), seconds(0));
  budget.failed("10.0.0.1");
  EXPECT_EQ(budget.retry_after("10.0.0.1"), seconds(2)) << "one refill buys one failure";
  clock_.advance(Millis(60'000));
  for (int i = 0; i < 3; ++i) budget.failed("10.0.0.1");
  EXPECT_GT(budget.retry_after("10.0.0.1"), seconds(0)) << "the bucket never fills past its burst";
}

TEST_F(FailureBudgetTest, FailuresAreLoggedOncePerSourcePerIntervalWithTheirCount) {
  FailureBudget budget(clock_, {100, Millis(10), seconds(60), 16});
  EXPECT_EQ(budget.failed("a"), 1) << "the first failure is told at once";
  for (int i = 0; i < 499; ++i) EXPECT_EQ(budget.failed("a"), std::nullopt);
  EXPECT_EQ(budget.failed("b"), 1) << "each source has its own interval";
  clock_.advance(seconds(60));
  EXPECT_EQ(budget.failed("a"), 500) << "499 held back plus this one";
  EXPECT_EQ(budget.failed("a"), std::nullopt);
}

TEST_F(FailureBudgetTest, AFloodOfFreshSourcesNeverGrowsTheTablePastItsBound) {
  FailureBudget budget(clock_, {2, Millis(1000), seconds(60), 64});
  budget.failed("guesser");
  budget.failed("guesser");
  for (int i = 0; i < 10'000; ++i) {
    budget.failed("198.51.100." + std::to_string(i));
    clock_.advance(Millis(1));
  }
  EXPECT_LE(budget.sources(), 64u);
  EXPECT_EQ(budget.retry_after("guesser"), seconds(0)) << "the oldest source made room, its debt forgotten";
}

TEST_F(FailureBudgetTest, AClockSetBackDoesNotDrainOrRefill) {
  FailureBudget budget(clock_, {1, Millis(1000), seconds(60), 16});
  budget.failed("a");
  clock_.advance(Millis(-10'000));
  EXPECT_EQ(budget.retry_after("a"), seconds(1));
}

TEST(AddressOf, DropsThePortAndKeepsIpv6Colons) {
  EXPECT_EQ(address_of("127.0.0.1:4431"), "127.0.0.1");
  EXPECT_EQ(address_of("::1:4431"), "::1");
  EXPECT_EQ(address_of("[2001:db8::1]:443"), "2001:db8::1");
  EXPECT_EQ(address_of(""), "");
}

}  // namespace
}  // namespace meshfed
