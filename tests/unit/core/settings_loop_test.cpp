#include "meshfed/core/settings_loop.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "support/test_support.hpp"

namespace meshfed {
namespace {

using SteadyClock = std::chrono::steady_clock;

TEST(SettingsLoop, TheFirstRoundAndEveryReconfigureHandOverTheSettings) {
  SettingsLoop<int> loop(1);
  int current = 0;
  bool changed = false;
  ASSERT_TRUE(loop.next_round(current, changed));
  EXPECT_TRUE(changed);
  EXPECT_EQ(current, 1);
  ASSERT_TRUE(loop.next_round(current, changed));
  EXPECT_FALSE(changed);
  loop.reconfigure(2);
  EXPECT_FALSE(loop.sleep_until(SteadyClock::now() + std::chrono::hours(1)));  // returns at once: new settings
  ASSERT_TRUE(loop.next_round(current, changed));
  EXPECT_TRUE(changed);
  EXPECT_EQ(current, 2);
}

TEST(SettingsLoop, AWakeDuringARoundIsNotLost) {
  SettingsLoop<int> loop(1);
  int current = 0;
  bool changed = false;
  ASSERT_TRUE(loop.next_round(current, changed));
  loop.wake();  // arrives while the round runs, before the loop sleeps
  EXPECT_TRUE(loop.sleep_until(SteadyClock::now() + std::chrono::hours(1)));
}

TEST(SettingsLoop, StopEndsTheRoundsAndJoinsTheThread) {
  SettingsLoop<int> loop(1);
  std::atomic<int> rounds{0};
  loop.start([&] {
    int current = 0;
    bool changed = false;
    while (loop.next_round(current, changed)) {
      ++rounds;
      loop.sleep_until(SteadyClock::now() + std::chrono::hours(1));
    }
  });
  ASSERT_TRUE(testing::wait_until([&] { return rounds.load() == 1; }));
  loop.wake();
  ASSERT_TRUE(testing::wait_until([&] { return rounds.load() == 2; }));  // woken from its hour-long sleep
  bool interrupted = false;
  loop.stop([&] { interrupted = true; });
  EXPECT_TRUE(interrupted);
  EXPECT_EQ(rounds.load(), 2);
  EXPECT_TRUE(loop.stopping());
}

TEST(SettingsLoop, NothingPendingOnceARoundTookTheSettings) {
  SettingsLoop<int> loop(1);
  EXPECT_TRUE(loop.pending());  // the first settings
  int current = 0;
  bool changed = false;
  ASSERT_TRUE(loop.next_round(current, changed));
  EXPECT_FALSE(loop.pending());  // a sleep now lasts until its deadline
  loop.reconfigure(2);
  EXPECT_TRUE(loop.pending());
}

TEST(BackgroundLoop, SleepsUntilWokenOrStoppedOnceItsRoundsBegan) {
  BackgroundLoop loop;
  ASSERT_TRUE(loop.next_round());
  EXPECT_FALSE(loop.pending());  // without settings there is nothing to hand over, ever
  loop.wake();
  EXPECT_TRUE(loop.pending());
  EXPECT_TRUE(loop.sleep_until(SteadyClock::now() + std::chrono::hours(1)));
  EXPECT_FALSE(loop.pending());
  loop.stop();
  EXPECT_TRUE(loop.pending());
  EXPECT_FALSE(loop.next_round());
}

}  // namespace
}  // namespace meshfed
