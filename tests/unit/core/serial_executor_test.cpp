#include "meshfed/core/serial_executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <stdexcept>
#include <vector>

#include "meshfed/core/thread_owner.hpp"
#include "support/test_support.hpp"

namespace meshfed {
namespace {

TEST(SerialExecutor, RunsJobsInTheOrderPostedOnOneThreadThatIsNotTheCallers) {
  SerialExecutor ex("test-serial");
  std::vector<int> order;  // touched by the executor's thread alone
  std::set<std::thread::id> threads;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(ex.post([&, i] {
      order.push_back(i);
      threads.insert(std::this_thread::get_id());
    }));
  }
  bool inside = false;
  ASSERT_TRUE(ex.run([&] { inside = ex.running_in_this_thread(); }));  // after the 100: same queue
  EXPECT_TRUE(inside);
  EXPECT_FALSE(ex.running_in_this_thread());
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_NE(*threads.begin(), std::this_thread::get_id());
}

TEST(SerialExecutor, JoinRunsWhatWasPostedAndRefusesWhatComesAfter) {
  SerialExecutor ex("test-serial");
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<int> ran{0};
  ASSERT_TRUE(ex.post([gate] { gate.wait(); }));
  ASSERT_TRUE(ex.post([&] { ++ran; }));
  std::thread joiner([&] { ex.join(); });
  // The join has begun once a post is refused; the queued job still runs after the gate opens.
  while (ex.post([&] { ran += 100; })) {
  }
  release.set_value();
  joiner.join();
  EXPECT_GE(ran.load(), 1);
  EXPECT_EQ(ran.load() % 100, 1);  // the job queued before the join ran exactly once
  bool called = false;
  EXPECT_FALSE(ex.run([&] { called = true; }));  // refused, not a wait forever
  EXPECT_FALSE(called);
}

// A job that throws is reported and the executor goes on; run() says the job failed instead of
// waiting for ever or taking the process down.
TEST(SerialExecutor, AJobThatThrowsIsReportedAndTheNextOneRuns) {
  testing::LogCapture log;
  SerialExecutor ex("thrower");
  ex.post([] { throw std::runtime_error("boom"); });
  EXPECT_FALSE(ex.run([] { throw std::logic_error("bang"); }));
  bool ran = false;
  EXPECT_TRUE(ex.run([&] { ran = true; }));
  EXPECT_TRUE(ran);
  ex.join();
  EXPECT_NE(log.text().find("thrower: a job failed, the next one runs: boom"), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("thrower: a job failed: bang"), std::string::npos) << log.text();
}

TEST(SerialExecutorDeathTest, RunFromItsOwnThreadAbortsInsteadOfWaitingForItself) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        testing::log_to_stderr();  // death tests read stderr
        SerialExecutor ex("test-serial");
        ex.run([&] { ex.run([] {}); });
      },
      "would wait for itself");
}

TEST(ThreadOwnerDeathTest, ASecondThreadAbortsNamingTheObject) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        testing::log_to_stderr();  // death tests read stderr
        ThreadOwner owner("the test's object");
        owner.check();
        std::thread([&] { owner.check(); }).join();
      },
      "the test's object is owned by one thread and was used from another");
}

TEST(ThreadOwner, AReleasedObjectBelongsToItsNextUser) {
  ThreadOwner owner("the test's object");
  owner.check();
  owner.check();  // the same thread again
  owner.release();
  std::thread([&] { owner.check(); }).join();  // would abort without the release
  owner.release();
  owner.check();
  SUCCEED();  // reaching here is the assertion: a failed check aborts the process
}

}  // namespace
}  // namespace meshfed
