#include "meshfed/core/log_pacer.hpp"

#include <gtest/gtest.h>

namespace meshfed {
namespace {

using std::chrono::seconds;

TEST(LogPacerTest, OneLinePerKeyPerIntervalCarryingWhatItStandsFor) {
  ManualClock clock(from_unix_ms(1'800'000'000'000));
  LogPacer pacer(seconds(60));
  EXPECT_EQ(pacer.event("10.0.0.1", clock.now()), 1) << "the first event is told at once";
  for (int i = 0; i < 41; ++i) EXPECT_EQ(pacer.event("10.0.0.1", clock.now()), std::nullopt);
  EXPECT_EQ(pacer.event("10.0.0.2", clock.now()), 1) << "each key has its own interval";
  clock.advance(seconds(59));
  EXPECT_EQ(pacer.event("10.0.0.1", clock.now()), std::nullopt);
  clock.advance(seconds(1));
  EXPECT_EQ(pacer.event("10.0.0.1", clock.now()), 43) << "42 held back plus this one";
  EXPECT_EQ(pacer.event("10.0.0.1", clock.now()), std::nullopt) << "and the interval starts again";
}

TEST(LogPacerTest, AFloodOfKeysForgetsTheOldestAndStaysBounded) {
  ManualClock clock(from_unix_ms(1'800'000'000'000));
  LogPacer pacer(seconds(60), 8);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(pacer.event("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), clock.now()), 1);
    clock.advance(Millis(1));
  }
  EXPECT_EQ(pacer.keys(), 8u);
  EXPECT_EQ(pacer.event("10.0.3.231", clock.now()), std::nullopt) << "the newest keys are kept";
  EXPECT_EQ(pacer.event("10.0.0.0", clock.now()), 1) << "a forgotten key logs again at once";
}

TEST(LogPacerTest, AClockSetBackHoldsLinesBackRatherThanFloodingThem) {
  ManualClock clock(from_unix_ms(1'800'000'000'000));
  LogPacer pacer(seconds(60));
  EXPECT_EQ(pacer.event("a", clock.now()), 1);
  clock.advance(seconds(-3600));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(pacer.event("a", clock.now()), std::nullopt);
}

}  // namespace
}  // namespace meshfed
