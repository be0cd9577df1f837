// Every gateway worker counts its connections into the same gauges: no count may be lost.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "meshfed/gateway/gateway.hpp"

namespace meshfed::gateway {
namespace {

TEST(GatewayMetrics, WorkersCountingAtOnceLoseNoConnection) {
  metrics::Registry registry;
  GatewayMetrics m(registry);
  constexpr int kWorkers = 4, kConnections = 50'000;
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      for (int i = 0; i < kConnections; ++i) m.admitted("ingress", "billing", "dmz");
      for (int i = 0; i < kConnections / 2; ++i) m.ended("ingress", "billing", "dmz", 0.001);
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(m.total.value({"ingress", "billing", "dmz"}), kWorkers * kConnections);
  EXPECT_EQ(m.active.value({"ingress", "billing", "dmz"}), kWorkers * kConnections / 2);  // each still open
}

}  // namespace
}  // namespace meshfed::gateway
