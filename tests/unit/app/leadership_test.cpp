// The leadership state machine, driven by hand: a scripted lock and the manual clock.
#include <gtest/gtest.h>

#include <deque>

#include "app/replica.hpp"

namespace meshfed::app {
namespace {

using namespace std::chrono_literals;

// A lock whose answers the test sets; it counts releases.
class ScriptedLock final : public store::LeaderLock {
 public:
  Result<bool> try_acquire(std::chrono::milliseconds) override {
    ++tries;
    if (!reachable) return make_error(ErrorCode::kUnavailable, "store away");
    return free;
  }
  Status confirm(std::chrono::milliseconds) override {
    if (!still_held) return make_error(ErrorCode::kUnavailable, "session ended");
    return {};
  }
  void release() override { ++releases; }

  bool reachable = true;
  bool free = true;
  bool still_held = true;
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
        Leadership::Events{[this] { events_.push_back("elected"); }, [this] { events_.push_back("deposed"); }});
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
  EXPECT_EQ(events_, std::deque<std::string>{"elected"});
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
  EXPECT_EQ(events_, (std::deque<std::string>{"elected", "deposed"}));
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
  EXPECT_EQ(events_, (std::deque<std::string>{"elected", "deposed"}));
  EXPECT_EQ(lock_->releases, 1);
  leadership_->stop();  // once
  EXPECT_EQ(events_.size(), 2u);
}

}  // namespace
}  // namespace meshfed::app
