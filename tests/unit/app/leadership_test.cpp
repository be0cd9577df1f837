// The leadership state machine, driven by hand: a scripted lock and the manual clock.
#include <gtest/gtest.h>

#include <deque>

#include "app/replica.hpp"

namespace meshfed::app {
namespace {

using namespace std::chrono_literals;

// A lock whose answers the test sets; it counts releases. Each acquisition begins the next
// term; `current` is the store's newest term, which another replica may move on.
class ScriptedLock final : public store::LeaderLock {
 public:
  Result<std::optional<int64_t>> try_acquire(std::chrono::milliseconds) override {
    ++tries;
    if (!reachable) return make_error(ErrorCode::kUnavailable, "store away");
    if (!free) return std::optional<int64_t>();
    return std::optional<int64_t>(++current);
  }
  Result<int64_t> confirm(std::chrono::milliseconds) override {
    if (!still_held) return make_error(ErrorCode::kUnavailable, "session ended");
    return current;
  }
  void release() override { ++releases; }

  bool reachable = true;
  bool free = true;
  bool still_held = true;
  int64_t current = 0;
  int tries = 0;
  int releases = 0;
};

class LeadershipTest : public ::testing::Test {
 protected:
  LeadershipTest() {
    auto lock = std::make_unique<ScriptedLock>();
    lock_ = lock.get();
    leadership_ = std::make_unique<Leadership>(
        std::move(lock), clock_,
        Leadership::Events{[this](int64_t term) { events_.push_back("elected " + std::to_string(term)); },
                           [this] { events_.push_back("deposed"); }});
  }

  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  ScriptedLock* lock_ = nullptr;
  std::deque<std::string> events_;
  std::unique_ptr<Leadership> leadership_;
};

TEST_F(LeadershipTest, AFollowerLeadsOnceItTakesTheLock) {
  lock_->free = false;
  leadership_->round();
  EXPECT_FALSE(leadership_->leading());
  lock_->reachable = false;
  leadership_->round();
  EXPECT_FALSE(leadership_->leading());
  EXPECT_TRUE(events_.empty());
  lock_->reachable = true;
  lock_->free = true;
  leadership_->round();
  EXPECT_TRUE(leadership_->leading());
  EXPECT_EQ(events_, std::deque<std::string>{"elected 1"});
  EXPECT_EQ(lock_->tries, 3);
  leadership_->round();  // a leader confirms instead of trying again
  EXPECT_EQ(lock_->tries, 3);
  EXPECT_EQ(events_.size(), 1u);
}

TEST_F(LeadershipTest, ALeaderStepsDownAtTheFirstFailedConfirmationAndGivesTheLockUp) {
  leadership_->round();
  ASSERT_TRUE(leadership_->leading());
  lock_->still_held = false;
  leadership_->round();
  EXPECT_FALSE(leadership_->leading());
  EXPECT_EQ(events_, (std::deque<std::string>{"elected 1", "deposed"}));
  EXPECT_EQ(lock_->releases, 1);
  leadership_->round();  // and is a follower again, trying to take it back
  EXPECT_EQ(lock_->tries, 2);
  EXPECT_TRUE(leadership_->leading());
}

// Work that runs once per domain asks leading() before each step: a leader whose confirmations
// stopped (its thread did not run) no longer counts as leading once its lease has run out, even
// before a round has noticed, and counts again when a confirmation comes.
TEST_F(LeadershipTest, LeadingLapsesWithTheLeaseBetweenConfirmations) {
  leadership_->round();
  clock_.advance(Leadership::kLease - 1ms);
  EXPECT_TRUE(leadership_->leading());
  clock_.advance(1ms);
  EXPECT_FALSE(leadership_->leading());
  leadership_->round();
  EXPECT_TRUE(leadership_->leading());
  EXPECT_EQ(events_.size(), 1u);
}

TEST_F(LeadershipTest, StoppingALeaderHandsTheLockOverAtOnce) {
  leadership_->round();
  leadership_->stop();
  EXPECT_FALSE(leadership_->leading());
  EXPECT_EQ(events_, (std::deque<std::string>{"elected 1", "deposed"}));
  EXPECT_EQ(lock_->releases, 1);
  leadership_->stop();  // once
  EXPECT_EQ(events_.size(), 2u);
}

// Each election is a new term; the term is this replica's only while its lease runs.
TEST_F(LeadershipTest, EachElectionIsANewTermHeldOnlyWhileTheLeaseRuns) {
  EXPECT_EQ(leadership_->term(), std::nullopt);
  leadership_->round();
  EXPECT_EQ(leadership_->term(), 1);
  lock_->still_held = false;
  leadership_->round();
  EXPECT_EQ(leadership_->term(), std::nullopt);
  lock_->still_held = true;
  leadership_->round();
  EXPECT_EQ(leadership_->term(), 2);
  EXPECT_EQ(events_, (std::deque<std::string>{"elected 1", "deposed", "elected 2"}));
  clock_.advance(Leadership::kLease);
  EXPECT_EQ(leadership_->term(), std::nullopt);
}

// The store names a newer term than this replica's (another replica began one while this one's
// session was being ended): it steps down at once, and confirm_term() says so before.
TEST_F(LeadershipTest, ANewerTermInTheStoreDeposesAtTheNextRound) {
  leadership_->round();
  ASSERT_TRUE(leadership_->confirm_term(1).ok());
  lock_->current = 2;
  const auto refused = leadership_->confirm_term(1);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("term 2 began"), std::string::npos) << refused.error().message;
  leadership_->round();
  EXPECT_FALSE(leadership_->leading());
  EXPECT_EQ(events_.back(), "deposed");
  EXPECT_FALSE(leadership_->confirm_term(1).ok());
}

// Control-plane writes of a term begin a lease after the election (a predecessor deposed without
// knowing it has stopped by then) and end with kWriteMargin of the lease left, or at once when
// the term is over.
TEST_F(LeadershipTest, ATermWritesFromOneLeaseAfterItsElectionUntilItsLeaseNearlyEnds) {
  leadership_->round();
  EXPECT_FALSE(leadership_->may_write(1));
  clock_.advance(Leadership::kLease - 1ms);
  leadership_->round();  // confirmed just now
  EXPECT_FALSE(leadership_->may_write(1));
  clock_.advance(1ms);
  EXPECT_TRUE(leadership_->may_write(1));
  EXPECT_FALSE(leadership_->may_write(2));  // not this replica's term
  clock_.advance(Leadership::kLease - Leadership::kWriteMargin - 2ms);
  EXPECT_TRUE(leadership_->may_write(1));
  clock_.advance(1ms);
  EXPECT_FALSE(leadership_->may_write(1));  // the confirmations stopped: the lease nearly ran out
  EXPECT_TRUE(leadership_->leading());      // while the domain's work still counts as led
  leadership_->round();
  EXPECT_TRUE(leadership_->may_write(1));
  leadership_->stop();
  EXPECT_FALSE(leadership_->may_write(1));
}

}  // namespace
}  // namespace meshfed::app
