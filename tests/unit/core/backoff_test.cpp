#include "meshfed/core/backoff.hpp"

#include <gtest/gtest.h>

namespace meshfed {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, EachFailureDoublesTheBoundUpToTheMaximumAndWaitsBetweenHalfAndAll) {
  Backoff backoff(milliseconds(100), milliseconds(1000), 42);
  const int64_t bounds[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (const int64_t bound : bounds) {
    const auto wait = backoff.next().count();
    EXPECT_GE(wait, bound / 2) << "bound " << bound;
    EXPECT_LE(wait, bound) << "bound " << bound;
  }
}

TEST(Backoff, ASuccessStartsAgainFromTheMinimum) {
  Backoff backoff(milliseconds(100), milliseconds(1000), 7);
  for (int i = 0; i < 10; ++i) backoff.next();
  backoff.reset();
  EXPECT_LE(backoff.next().count(), 100);
}

TEST(Backoff, WaitsAreJitteredSoClientsThatFailedTogetherSpreadOut) {
  Backoff a(milliseconds(1000), milliseconds(1000), 1);
  Backoff b(milliseconds(1000), milliseconds(1000), 2);
  int differ = 0;
  for (int i = 0; i < 20; ++i) differ += a.next() != b.next();
  EXPECT_GT(differ, 10);
}

TEST(Backoff, AZeroOrInvertedRangeStillWaits) {
  // Never zero: a zero wait would retry a failing peer in a tight loop.
  Backoff zero(milliseconds(0), milliseconds(0), 3);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(zero.next().count(), 1);
  Backoff inverted(milliseconds(500), milliseconds(100), 3);
  EXPECT_LE(inverted.next().count(), 500);
  EXPECT_GE(inverted.next().count(), 250);
}

}  // namespace
}  // namespace meshfed
