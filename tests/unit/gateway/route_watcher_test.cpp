// A gateway's watcher of the broker's routing table: stopping it ends whatever it waits on.
#include "meshfed/gateway/route_watcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::gateway {
namespace {

TEST(RouteWatcher, StopEndsABackoffAtOnce) {
  testing::TempDir dir;
  testing::make_pki(dir / "pki", "pci");
  testing::EchoServer not_a_broker;  // echoes the ClientHello back: every round fails
  RouteWatcher watcher({"https://127.0.0.1:" + std::to_string(not_a_broker.port()), dir / "pki" / "ca.pem", "token",
                        std::chrono::seconds(30), std::chrono::hours(1), std::chrono::hours(1), "egress"},
                       [](std::shared_ptr<const RoutingTable>) {});
  ASSERT_TRUE(watcher.start().ok());
  ASSERT_TRUE(
      testing::wait_until([&] { return not_a_broker.connections() >= 1; }));  // failing, then backing off an hour

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    watcher.stop();
    stopped = true;
  });
  EXPECT_TRUE(testing::wait_until([&] { return stopped.load(); }));  // not an hour
  stopper.join();
}

}  // namespace
}  // namespace meshfed::gateway
