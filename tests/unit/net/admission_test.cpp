#include "meshfed/net/admission.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "support/test_support.hpp"

namespace meshfed::net {
namespace {

using Stage = Admission::Stage;

int occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// Admission as a listener sees it: each admitted connection records whether it was told to
// make room.
class AdmissionTest : public ::testing::Test {
 protected:
  struct Connection {
    std::unique_ptr<Admission::Ticket> ticket;
    std::shared_ptr<bool> evicted = std::make_shared<bool>(false);
  };

  Connection connect(Admission& admission, const std::string& address) {
    Connection c;
    c.ticket = admission.admit(address, [flag = c.evicted] { *flag = true; });
    return c;
  }

  // An admission that counts its refusals in refusals_.
  std::unique_ptr<Admission> counting(const std::string& listener, AdmissionLimits limits) {
    auto admission = std::make_unique<Admission>(listener, limits, clock_);
    admission->count_refusals_in(refusals_);
    return admission;
  }

  double refused(const std::string& listener, const std::string& reason) const {
    return refusals_.value({listener, reason});
  }

  metrics::Registry registry_;
  metrics::Family& refusals_ = registry_.counter("refusals_total", "test", {"listener", "reason"});
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
};

TEST_F(AdmissionTest, ASourceHoldsItsShareAndOthersAreUnaffected) {
  auto admission = counting("admin", {.max_connections = 100, .max_connections_per_source = 3});
  std::vector<Connection> held;
  for (int i = 0; i < 3; ++i) held.push_back(connect(*admission, "10.0.0.1"));
  for (const auto& c : held) ASSERT_NE(c.ticket, nullptr);
  EXPECT_EQ(connect(*admission, "10.0.0.1").ticket, nullptr);
  EXPECT_EQ(connect(*admission, "10.0.0.1").ticket, nullptr);
  EXPECT_NE(connect(*admission, "10.0.0.2").ticket, nullptr) << "another address is unaffected";
  EXPECT_EQ(refused("admin", kPerSourceCap), 2);
  held.pop_back();  // one closes: its place is given back
  EXPECT_NE(connect(*admission, "10.0.0.1").ticket, nullptr);
  EXPECT_EQ(admission->open(), 2) << "the connections above that were not kept are given back too";
}

TEST_F(AdmissionTest, AnAuthenticatedConnectionCountsAgainstItsPeerNotItsAddress) {
  auto admission =
      counting("peer", {.max_connections = 100, .max_connections_per_source = 2, .max_connections_per_peer = 2});
  // Many peers behind one address (a NAT, loopback) do not crowd each other out.
  std::vector<Connection> peers;
  for (const std::string peer : {"dmz", "dmz", "pci", "internal"}) {
    peers.push_back(connect(*admission, "10.0.0.1"));
    ASSERT_NE(peers.back().ticket, nullptr) << peer;
    EXPECT_TRUE(peers.back().ticket->authenticate(peer)) << peer;
  }
  auto third_dmz = connect(*admission, "10.0.0.1");
  ASSERT_NE(third_dmz.ticket, nullptr);
  EXPECT_FALSE(third_dmz.ticket->authenticate("dmz")) << "dmz already has its two";
  EXPECT_EQ(refused("peer", kPerPeerCap), 1);
  third_dmz.ticket.reset();
  peers.erase(peers.begin());  // one of dmz's closes
  auto again = connect(*admission, "10.0.0.1");
  ASSERT_NE(again.ticket, nullptr);
  EXPECT_TRUE(again.ticket->authenticate("dmz"));
}

TEST_F(AdmissionTest, AtCapacityTheLeastAdvancedIdleConnectionMakesRoomOldestFirst) {
  auto admission = counting("peer", {.max_connections = 4, .max_connections_per_source = 0});
  auto authenticated = connect(*admission, "10.0.0.1");
  ASSERT_TRUE(authenticated.ticket->authenticate("dmz"));
  auto handshaking = connect(*admission, "10.0.0.2");
  handshaking.ticket->advance(Stage::kHandshake);
  auto older_silent = connect(*admission, "10.0.0.3");
  auto newer_silent = connect(*admission, "10.0.0.4");

  auto first = connect(*admission, "10.0.0.5");
  ASSERT_NE(first.ticket, nullptr);
  EXPECT_TRUE(*older_silent.evicted) << "silent before handshaking, the oldest first";
  EXPECT_FALSE(*newer_silent.evicted || *handshaking.evicted || *authenticated.evicted);
  EXPECT_TRUE(older_silent.ticket->evicted());
  first.ticket->advance(Stage::kEstablished);

  auto second = connect(*admission, "10.0.0.6");  // the evicted one has not closed yet: not counted twice
  ASSERT_NE(second.ticket, nullptr);
  EXPECT_TRUE(*newer_silent.evicted);
  second.ticket->advance(Stage::kEstablished);
  older_silent.ticket.reset();
  newer_silent.ticket.reset();

  auto third = connect(*admission, "10.0.0.7");
  ASSERT_NE(third.ticket, nullptr);
  EXPECT_TRUE(*handshaking.evicted) << "then one in its handshake";
  EXPECT_FALSE(*authenticated.evicted) << "an authenticated peer last";
  EXPECT_EQ(refused("peer", kAtCapacity), 0);
}

TEST_F(AdmissionTest, ABusyConnectionIsNeverEvictedAndWithNoneIdleTheNewOneIsRefused) {
  auto admission = counting("ingress", {.max_connections = 2, .max_connections_per_source = 0});
  auto a = connect(*admission, "10.0.0.1");
  auto b = connect(*admission, "10.0.0.2");
  a.ticket->set_busy(true);
  b.ticket->set_busy(true);
  EXPECT_EQ(connect(*admission, "10.0.0.3").ticket, nullptr);
  EXPECT_FALSE(*a.evicted || *b.evicted);
  EXPECT_EQ(refused("ingress", kAtCapacity), 1);
  b.ticket->set_busy(false);  // done serving: it may now make room
  EXPECT_NE(connect(*admission, "10.0.0.3").ticket, nullptr);
  EXPECT_TRUE(*b.evicted);
}

// A victim that became busy before its eviction landed is kept: it counts again, so the cap
// holds once the connection that took its place is gone.
TEST_F(AdmissionTest, ASparedVictimCountsAgainstTheCap) {
  auto admission = counting("ingress", {.max_connections = 2, .max_connections_per_source = 0});
  auto victim = connect(*admission, "10.0.0.1");
  auto busy = connect(*admission, "10.0.0.2");
  busy.ticket->set_busy(true);
  auto newcomer = connect(*admission, "10.0.0.3");
  ASSERT_NE(newcomer.ticket, nullptr);
  ASSERT_TRUE(*victim.evicted);
  victim.ticket->set_busy(true);  // admitted on its own thread before the eviction got there
  victim.ticket->spared();
  EXPECT_FALSE(victim.ticket->evicted());
  newcomer.ticket.reset();
  EXPECT_EQ(connect(*admission, "10.0.0.4").ticket, nullptr) << "two busy connections fill a cap of two";
  EXPECT_EQ(refused("ingress", kAtCapacity), 1);
}

TEST_F(AdmissionTest, ASourceOutsideTheFilterIsRefusedBeforeItIsCounted) {
  auto admission = counting("peer", {});
  admission->add_source_filter("source_range", "outside every range",
                               [](const std::string& address) { return address.starts_with("10.0.0."); });
  admission->add_source_filter("paced", "paced", [](const std::string& address) { return address != "10.0.0.2"; });
  EXPECT_EQ(connect(*admission, "10.0.1.9").ticket, nullptr);
  EXPECT_EQ(connect(*admission, "10.0.0.2").ticket, nullptr);
  EXPECT_EQ(refused("peer", "source_range"), 1);
  EXPECT_EQ(refused("peer", "paced"), 1);
  EXPECT_EQ(admission->open(), 0);
  EXPECT_NE(connect(*admission, "10.0.0.1").ticket, nullptr);
}

TEST_F(AdmissionTest, RefusalsAreCountedEachAndLoggedOncePerSourcePerInterval) {
  testing::LogCapture log;
  auto lines = [&](const std::string& text) { return occurrences(log.text(), text); };
  auto admission = counting("metrics", {.max_connections = 100, .max_connections_per_source = 1});
  auto held_a = connect(*admission, "10.0.0.1");
  auto held_b = connect(*admission, "10.0.0.2");
  for (int i = 0; i < 500; ++i) EXPECT_EQ(connect(*admission, "10.0.0.1").ticket, nullptr);
  EXPECT_EQ(connect(*admission, "10.0.0.2").ticket, nullptr);
  EXPECT_EQ(refused("metrics", kPerSourceCap), 501);
  EXPECT_EQ(lines("refusing a connection from 10.0.0.1"), 1);
  EXPECT_EQ(lines("refusing a connection from 10.0.0.2"), 1);
  clock_.advance(std::chrono::seconds(60));
  EXPECT_EQ(connect(*admission, "10.0.0.1").ticket, nullptr);
  EXPECT_EQ(lines("refusing a connection from 10.0.0.1"), 2);
  EXPECT_EQ(lines("(500 refusals from this address since the last line)"), 1);
}

TEST_F(AdmissionTest, TicketsMayOutliveTheirAdmission) {
  auto admission = std::make_unique<Admission>("egress", AdmissionLimits{}, clock_);
  auto c = connect(*admission, "10.0.0.1");
  ASSERT_NE(c.ticket, nullptr);
  admission.reset();  // a listener torn down while a connection winds down on its own thread
  c.ticket->set_busy(true);
  EXPECT_TRUE(c.ticket->authenticate("dmz"));
  c.ticket.reset();
}

}  // namespace
}  // namespace meshfed::net
