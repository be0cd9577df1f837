#include "meshfed/federation/peer_health.hpp"

#include <gtest/gtest.h>

namespace meshfed::federation {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

TEST(PeerStateTest, QuarantinedWinsThenTheLastSyncDecides) {
  store::PeerRecord p;
  EXPECT_EQ(peer_state(p, kNow, 60), PeerState::kUnreachable) << "never answered: nothing of it can be stale";
  p.last_success_ms = kNow - 1000;
  EXPECT_EQ(peer_state(p, kNow, 60), PeerState::kConnected);
  p.last_error_ms = kNow - 500;
  EXPECT_EQ(peer_state(p, kNow, 60), PeerState::kUnreachable) << "failing, but within stale_after";
  EXPECT_EQ(peer_state(p, kNow + 60'000, 60), PeerState::kStale);
  p.quarantined_since_ms = kNow;
  EXPECT_EQ(peer_state(p, kNow, 60), PeerState::kQuarantined);
  EXPECT_EQ(to_string(PeerState::kFlapping), "flapping");
}

TEST(ChangeBudgetsTest, AnAnswerThatDoesNotFitIsHeldBackUntilTheBucketRefills) {
  ChangeBudgets budgets;
  const ChangeBudgets::Limits limits{60, 100};  // one step a second, 100 at once
  EXPECT_TRUE(budgets.try_take("dmz", limits, 80, kNow)) << "a fresh peer starts with a full bucket";
  EXPECT_FALSE(budgets.try_take("dmz", limits, 30, kNow));
  EXPECT_TRUE(budgets.flapping("dmz"));
  const auto held = budgets.held_back("dmz", limits, 30, kNow);
  EXPECT_FALSE(held.never_fits);
  EXPECT_TRUE(held.audit);
  EXPECT_EQ(held.left, 20);
  EXPECT_EQ(budgets.wait("dmz", kNow), std::chrono::milliseconds(10'000)) << "10 steps missing at 1 a second";
  EXPECT_EQ(budgets.wait("pci", kNow), std::chrono::milliseconds(0)) << "another peer keeps its own bucket";
  EXPECT_FALSE(budgets.held_back("dmz", limits, 30, kNow + 1000).audit) << "audited once a minute";
  EXPECT_TRUE(budgets.try_take("dmz", limits, 30, kNow + 10'000));
  EXPECT_FALSE(budgets.flapping("dmz"));
  EXPECT_EQ(budgets.wait("dmz", kNow + 10'000), std::chrono::milliseconds(0));
  EXPECT_TRUE(budgets.held_back("dmz", limits, 30, kNow + 70'000).audit) << "a minute later, audited again";
}

TEST(ChangeBudgetsTest, AnAnswerLargerThanTheBurstNeverFitsAndWithdrawalsAreChargedDownToEmpty) {
  ChangeBudgets budgets;
  const ChangeBudgets::Limits limits{60, 100};
  EXPECT_FALSE(budgets.try_take("dmz", limits, 101, kNow));
  EXPECT_TRUE(budgets.held_back("dmz", limits, 101, kNow).never_fits) << "a full catalog is asked for next";
  budgets.charge("dmz", limits, 500, kNow);  // withdrawals: applied whatever the bucket holds
  EXPECT_FALSE(budgets.try_take("dmz", limits, 1, kNow)) << "empty, not negative: a refill buys steps again";
  EXPECT_TRUE(budgets.try_take("dmz", limits, 1, kNow + 1000));
  EXPECT_FALSE(budgets.try_take("dmz", limits, 1, kNow - 3'600'000)) << "a clock set back refills nothing";
}

TEST(ChangeBudgetsTest, APeerNoLongerConfiguredIsForgotten) {
  ChangeBudgets budgets;
  const ChangeBudgets::Limits limits{60, 100};
  EXPECT_FALSE(budgets.try_take("dmz", limits, 200, kNow));
  EXPECT_TRUE(budgets.flapping("dmz"));
  budgets.keep_only({"pci"});
  EXPECT_FALSE(budgets.flapping("dmz"));
  EXPECT_TRUE(budgets.try_take("dmz", limits, 100, kNow)) << "back with a full bucket";
}

}  // namespace
}  // namespace meshfed::federation
