#include "app/runtime.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <future>
#include <thread>

#include "support/notify_socket.hpp"

namespace meshfed::app {
namespace {

using namespace std::chrono_literals;

// The runtime's event loop on a thread of the test's own, so that the test can act on it.
struct Running {
  explicit Running(Runtime& rt) : thread([&rt] { rt.run(); }) {}
  ~Running() {
    if (thread.joinable()) thread.join();
  }
  std::thread thread;
};

TEST(Runtime, APeriodicJobRunsOnItsExecutorAndNeverTwiceAtOnce) {
  Runtime rt(1s);
  SerialExecutor store("test-store");
  std::atomic<int> rounds{0}, concurrent{0}, most_concurrent{0};
  std::promise<void> three;
  std::atomic<bool> on_store{true};
  rt.every(1ms, store, [&] {
    on_store = on_store && store.running_in_this_thread();
    const int now = ++concurrent;
    most_concurrent = std::max(most_concurrent.load(), now);
    // Slower than the period: the timer fires again while this round runs.
    std::this_thread::sleep_for(5ms);
    --concurrent;
    if (++rounds == 3) three.set_value();
  });
  {
    Running running(rt);
    three.get_future().wait();
    rt.request_stop();
  }
  store.join();
  EXPECT_GE(rounds.load(), 3);
  EXPECT_TRUE(on_store.load());
  EXPECT_EQ(most_concurrent.load(), 1);
}

TEST(Runtime, SighupRunsTheReloadOnItsExecutor) {
  Runtime rt(1s);
  SerialExecutor store("test-store");
  std::promise<bool> reloaded;
  rt.on_reload(store, [&] { reloaded.set_value(store.running_in_this_thread()); });
  {
    Running running(rt);
    // The signal set is registered in the constructor: a SIGHUP raised now is queued for the
    // loop, never the default action that would end the test process.
    ASSERT_EQ(::raise(SIGHUP), 0);
    EXPECT_TRUE(reloaded.get_future().get());
    rt.request_stop();
  }
}

TEST(Runtime, SigtermStopsAcceptingAndWaitsForOpenConnectionsToDrain) {
  Runtime rt(60s);
  std::atomic<int> open{2}, polls{0};
  std::atomic<bool> stopped_accepting{false}, returned{false};
  std::promise<void> polled_thrice;
  rt.on_stop({.stop_accepting = [&] { stopped_accepting = true; },
              .open_connections =
                  [&] {
                    if (++polls == 3) polled_thrice.set_value();
                    return open.load();
                  }});
  std::thread loop([&] {
    rt.run();
    returned = true;
  });
  ASSERT_EQ(::raise(SIGTERM), 0);
  // A runtime that stopped at the first look would never look a third time: the wait is only
  // a bound on how long a broken one keeps the test.
  const bool draining = polled_thrice.get_future().wait_for(30s) == std::future_status::ready;
  EXPECT_TRUE(draining);
  EXPECT_TRUE(stopped_accepting.load());
  EXPECT_TRUE(rt.stopping());
  EXPECT_FALSE(returned.load());
  open = 0;
  loop.join();
  EXPECT_TRUE(returned.load());
}

TEST(Runtime, WatchdogPingsStopWhileTheStoreThreadIsStuckAndResumeAfter) {
  testing::NotifySocket systemd(40ms);  // a ping every 20 ms
  Runtime rt(1s);
  SerialExecutor store("test-store");
  ASSERT_TRUE(rt.enable_watchdog(store));
  rt.on_reload(store, [] {});
  Running running(rt);
  EXPECT_TRUE(systemd.wait_for("READY=1"));
  EXPECT_TRUE(systemd.wait_for("WATCHDOG=1"));

  std::promise<void> stuck, release;
  store.post([&] {
    stuck.set_value();
    release.get_future().wait();
  });
  stuck.get_future().wait();
  systemd.drain();  // pings sent before the store thread got stuck
  // Fifteen periods without a ping: systemd would restart us. (Absence takes a wait to see.)
  std::string during;
  for (auto m = systemd.next(300ms); !m.empty(); m = systemd.next(300ms)) during += m + " ";
  EXPECT_EQ(during, "");

  release.set_value();
  EXPECT_TRUE(systemd.wait_for("WATCHDOG=1"));

  ASSERT_EQ(::raise(SIGHUP), 0);
  EXPECT_TRUE(systemd.wait_for("RELOADING=1"));
  EXPECT_TRUE(systemd.wait_for("READY=1"));
  rt.request_stop();
  EXPECT_TRUE(systemd.wait_for("STOPPING=1"));
}

TEST(Runtime, NoWatchdogWithoutWatchdogUsec) {
  Runtime rt(1s);
  SerialExecutor store("test-store");
  EXPECT_FALSE(rt.enable_watchdog(store));
}

TEST(Runtime, AStopThatCannotDrainEndsAfterTheGracePeriod) {
  Runtime rt(100ms);
  rt.on_stop({.stop_accepting = [] {}, .open_connections = [] { return 1; }});
  const auto started = std::chrono::steady_clock::now();
  {
    Running running(rt);
    rt.request_stop();
  }
  EXPECT_GE(std::chrono::steady_clock::now() - started, 100ms);
}

}  // namespace
}  // namespace meshfed::app
