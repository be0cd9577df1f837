#include "meshfed/federation/egress_ports.hpp"

#include <gtest/gtest.h>

#include <set>

namespace meshfed::federation {
namespace {

class EgressPortsTest : public ::testing::Test {
 protected:
  EgressPortsTest() {
    EgressPortSettings s;
    s.range = config::PortRange{16000, 16003};
    s.shares = {{"dmz", 2}, {"pci", 4}};
    s.bindable = [this](int port) { return !held_by_others_.count(port); };
    ports_.configure(s);
  }

  std::optional<int> take(const std::string& peer) {
    std::string why_not;
    auto port = ports_.take(peer, why_not, [this]() -> Result<std::vector<std::pair<int, std::string>>> {
      ++store_reads_;
      if (store_fails_) return make_error(ErrorCode::kUnavailable, "store: cannot read the egress ports in use");
      return in_store_;
    });
    last_why_not_ = why_not;
    last_error_ = port ? std::string() : port.error().message;
    return port ? *port : std::nullopt;
  }

  static store::ImportRecord import(const std::string& id, int port) {
    store::ImportRecord r;
    r.id = id;
    r.state = store::ImportState::kActive;
    r.local_port = port;
    return r;
  }

  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  std::vector<std::pair<int, std::string>> in_store_;  // what the store says imports hold
  int store_reads_ = 0;
  bool store_fails_ = false;
  std::set<int> held_by_others_;
  std::string last_why_not_;
  std::string last_error_;
  EgressPorts ports_{clock_};
};

TEST_F(EgressPortsTest, EachPeerGetsFreePortsUpToItsShare) {
  in_store_ = {{16000, "pci"}};
  EXPECT_EQ(take("dmz"), 16001);
  EXPECT_EQ(take("dmz"), 16002);
  EXPECT_EQ(take("dmz"), std::nullopt);
  EXPECT_EQ(last_why_not_, "peer dmz holds all 2 of its egress ports (peers[].max_egress_ports)");
  EXPECT_EQ(take("pci"), 16003);
  EXPECT_EQ(take("pci"), std::nullopt);
  EXPECT_EQ(last_why_not_, "no free egress port in 16000-16003");
  EXPECT_EQ(take("unknown"), std::nullopt) << "a peer without a share gets none";
  EXPECT_EQ(store_reads_, 1) << "what the store holds is read once, then kept";
  ports_.forget_use();
  in_store_.clear();
  EXPECT_EQ(take("dmz"), 16000) << "read again after a change outside take()";
  EXPECT_EQ(store_reads_, 2);
}

TEST_F(EgressPortsTest, PortsInUseThatCannotBeReadGiveNoPortAndAreAskedForAgain) {
  store_fails_ = true;
  EXPECT_EQ(take("dmz"), std::nullopt);
  EXPECT_EQ(last_error_, "store: cannot read the egress ports in use") << "an error, not \"no free port\"";
  store_fails_ = false;
  in_store_ = {{16000, "pci"}};
  EXPECT_EQ(take("dmz"), 16001) << "nothing was kept of the failed read";
  EXPECT_EQ(store_reads_, 2);
}

TEST_F(EgressPortsTest, APortAnotherProgramHoldsIsSkippedForAWhileThenTriedAgain) {
  held_by_others_ = {16000};
  EXPECT_EQ(take("pci"), 16001);
  ports_.refused(16002);  // the egress could not bind it
  EXPECT_EQ(take("pci"), 16003);
  EXPECT_EQ(take("pci"), std::nullopt);
  EXPECT_EQ(last_why_not_, "no free egress port in 16000-16003 (2 held by other programs on this host)");
  EXPECT_FALSE(ports_.refusals_expired());
  held_by_others_.clear();
  clock_.advance(Millis(EgressPorts::kRefusedPortSkippedMs));
  EXPECT_TRUE(ports_.refusals_expired()) << "programs come and go";
  EXPECT_EQ(take("pci"), 16000);
  EXPECT_EQ(take("pci"), 16002);
}

TEST_F(EgressPortsTest, WithoutARangeNoPortIsGiven) {
  ports_.configure({});
  EXPECT_FALSE(ports_.in_range(16000));
  EXPECT_EQ(take("pci"), std::nullopt);
  EXPECT_EQ(last_why_not_, "no egress port range (gateways.egress.ports)");
}

TEST_F(EgressPortsTest, ASeparateEgressMustConfirmAPortBeforeItIsPublished) {
  EgressPortSettings s;
  s.range = config::PortRange{16000, 16003};
  s.shares = {{"pci", 4}};
  s.egress_confirms = true;
  ports_.configure(s);
  ports_.given(import("pci.a", 16000));
  EXPECT_EQ(ports_.awaiting(), 0u) << "until the egress process has watched the routes, nothing is awaited";
  ports_.seen();
  ports_.given(import("pci.a", 16000));
  ports_.given(import("pci.b", 16001));
  EXPECT_EQ(ports_.awaiting(), 2u);

  controlplane::DesiredState desired;
  desired.imports.push_back({});
  desired.imports.back().id = "pci.a";
  desired.imports.back().local_port = 16000;
  desired.imports.push_back({});
  desired.imports.back().id = "pci.c";
  desired.imports.back().local_port = 16002;
  const auto& published = ports_.publishable(desired);
  ASSERT_EQ(published.imports.size(), 1u) << "pci.a waits for its port; pci.c was never awaited";
  EXPECT_EQ(published.imports[0].id, "pci.c");
  EXPECT_EQ(ports_.awaiting(), 1u) << "pci.b left the store: no longer awaited";

  auto shown = import("pci.a", 16000);
  ports_.annotate(shown);
  EXPECT_EQ(shown.local_port, std::nullopt);
  EXPECT_EQ(shown.reason, "waiting for the egress gateway to listen on port 16000");

  EXPECT_FALSE(ports_.confirmed({{"pci.a", 16009}})) << "another port confirms nothing";
  EXPECT_TRUE(ports_.confirmed({{"pci.a", 16000}}));
  EXPECT_EQ(ports_.publishable(desired).imports.size(), 2u);
}

}  // namespace
}  // namespace meshfed::federation
