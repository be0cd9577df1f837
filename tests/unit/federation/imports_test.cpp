// The importing side's state machine under hostile peers, driven by the manual clock: per-peer
// shares of the egress range, retry when a port frees, refused catalogs changing nothing.
#include "meshfed/federation/imports.hpp"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include "meshfed/store/repositories.hpp"
#include "support/test_support.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::federation {
namespace {

using store::ImportState;

class ImportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(store::Database::open(dir_ / "m.db")).value();
    ImportSettings s;
    s.peers["evil"] = {"evil", "evil", config::ImportPolicy::kAuto, 2};
    s.peers["good"] = {"good", "good", config::ImportPolicy::kAuto, 2};
    s.egress_ports = config::PortRange{16000, 16003};
    s.egress_host = "127.0.0.1";
    imports_ = std::make_unique<ImportManager>(*db_, clock_, adapter_, s);
  }

  static ImportedExport exported(const std::string& peer, const std::string& id) {
    ImportedExport e;
    e.id = id;
    e.alias = id;
    e.mesh = "default";
    e.service = "svc";
    e.port = 9000;
    e.protocol = "tcp";
    e.sni = id + "." + peer + ".meshfed";
    e.ingress_host = "10.0.0.1";
    e.ingress_port = 15443;
    e.approved_at_ms = 1'700'000'000'000;
    e.expires_at_ms = 4'000'000'000'000;
    return e;
  }

  static CatalogAnswer full(const std::string& peer, const std::vector<std::string>& ids, int64_t revision) {
    CatalogAnswer a;
    a.revision = revision;
    for (const auto& id : ids) a.exports.push_back(exported(peer, id));
    return a;
  }

  store::ImportRecord get(const std::string& id) { return imports_->get(id).value(); }

  std::vector<audit::Entry> audit_with(const std::string& action) {
    std::vector<audit::Entry> out;
    (void)db_->read([&]() -> Status {
      for (auto& e : store::AuditRepository(*db_).list(0, 10000)) {
        if (e.action == action) out.push_back(std::move(e));
      }
      return {};
    });
    return out;
  }

  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  testing::FakeAdapter adapter_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<ImportManager> imports_;
};

TEST_F(ImportsTest, APeerHoldsOnlyItsShareOfEgressPortsAndCannotStarveAnother) {
  ASSERT_TRUE(imports_->apply_catalog("evil", full("evil", {"e1", "e2", "e3", "e4"}, 1)));
  EXPECT_EQ(get("evil.e1").state, ImportState::kActive);
  EXPECT_EQ(get("evil.e2").state, ImportState::kActive);
  const auto third = get("evil.e3");
  EXPECT_EQ(third.state, ImportState::kFailed);
  EXPECT_FALSE(third.local_port.has_value());
  EXPECT_EQ(third.reason, "peer evil holds all 2 of its egress ports (peers[].max_egress_ports)");

  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1", "g2"}, 1)));
  EXPECT_EQ(get("good.g1").state, ImportState::kActive);
  EXPECT_EQ(get("good.g2").state, ImportState::kActive);
  EXPECT_NE(get("good.g1").local_port, get("evil.e1").local_port);
}

TEST_F(ImportsTest, AnImportWaitingForAPortGetsOneAsSoonAsOneFrees) {
  ASSERT_TRUE(imports_->apply_catalog("evil", full("evil", {"e1", "e2", "e3"}, 1)));
  ASSERT_EQ(get("evil.e3").state, ImportState::kFailed);
  // e1 leaves the catalog: its port is free, and e3 takes it in the same apply.
  ASSERT_TRUE(imports_->apply_catalog("evil", full("evil", {"e2", "e3"}, 2)));
  EXPECT_EQ(get("evil.e1").state, ImportState::kWithdrawn);
  const auto e3 = get("evil.e3");
  EXPECT_EQ(e3.state, ImportState::kActive);
  ASSERT_TRUE(e3.local_port.has_value());
  // A restart keeps it so: a new manager over the same store reconciles to the same state.
  ImportManager again(*db_, clock_, adapter_, imports_->settings());
  ASSERT_TRUE(again.reconcile());
  EXPECT_EQ(again.get("evil.e3")->local_port, e3.local_port);
}

TEST_F(ImportsTest, ARefusedCatalogChangesNoImportAndIsAuditedOncePerReason) {
  ASSERT_TRUE(imports_->apply_catalog("evil", full("evil", {"e1"}, 1)));
  const auto before = get("evil.e1");
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(imports_->refuse_catalog("evil", {"depth", "catalog is nested deeper than 4 levels"}));
  ASSERT_TRUE(imports_->refuse_catalog("evil", {"count", "catalog lists more than the 1000 exports"}));
  ASSERT_TRUE(imports_->refuse_catalog("evil", {"count", "catalog lists more than the 1000 exports"}));
  const auto after = get("evil.e1");
  EXPECT_EQ(after.state, before.state);
  EXPECT_EQ(after.version, before.version);
  const auto refusals = audit_with("peer.catalog_refused");
  ASSERT_EQ(refusals.size(), 2u);
  EXPECT_EQ(refusals[0].details["reason"], "depth");
  EXPECT_EQ(refusals[1].details["reason"], "count");
  const auto peers = imports_->peers().value();
  const auto evil =
      std::find_if(peers.begin(), peers.end(), [](const PeerStatus& p) { return p.record.domain == "evil"; });
  ASSERT_NE(evil, peers.end());
  EXPECT_EQ(evil->record.last_error, "refused catalog (count): catalog lists more than the 1000 exports");
  // An accepted catalog ends the run: the same reason later is audited again.
  ASSERT_TRUE(imports_->apply_catalog("evil", full("evil", {"e1"}, 2)));
  ASSERT_TRUE(imports_->refuse_catalog("evil", {"depth", "again"}));
  EXPECT_EQ(audit_with("peer.catalog_refused").size(), 3u);
}

}  // namespace
}  // namespace meshfed::federation

namespace meshfed::federation {
namespace {

// The peer API and the watcher refuse a peer whose quarantine they cannot read; this is the
// answer they get: an error, never "not quarantined".
TEST_F(ImportsTest, AQuarantineThatCannotBeReadIsAnErrorNotANo) {
  const auto readable = imports_->is_quarantined("good");
  ASSERT_TRUE(readable.ok());
  EXPECT_FALSE(*readable);
  db_->sql().exec("ALTER TABLE peers RENAME TO peers_unreadable");  // every read of peers now fails
  const auto unreadable = imports_->is_quarantined("good");
  ASSERT_FALSE(unreadable.ok());
  EXPECT_EQ(unreadable.error().message, "cannot read whether peer good is quarantined");
}

// A state this binary does not know (a damaged row, a newer schema) is an error, not a guess.
TEST_F(ImportsTest, AnUnknownStoredStateIsAnErrorNotADefault) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 1)).ok());
  ASSERT_EQ(get("good.e1").state, ImportState::kActive);
  db_->sql().exec("UPDATE imports SET state = 'frozen' WHERE id = 'good.e1'");
  const auto read = imports_->get("good.e1");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kUnavailable);
}

TEST_F(ImportsTest, APeerIsConnectedThenUnreachableUntilStaleAfterAndQuarantineOutranksAll) {
  auto state_of = [&](const std::string& peer) {
    const auto peers = imports_->peers().value();
    for (const auto& p : peers)
      if (p.record.domain == peer) return p.state;
    ADD_FAILURE() << "no peer " << peer;
    return PeerState::kStale;
  };
  EXPECT_EQ(state_of("good"), PeerState::kStale);  // never synced
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 1)));
  EXPECT_EQ(state_of("good"), PeerState::kConnected);
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(imports_->record_failure("good", "connection refused"));
  EXPECT_EQ(state_of("good"), PeerState::kUnreachable);
  clock_.advance(std::chrono::seconds(59));  // stale_after is 60 s from the last success
  EXPECT_EQ(state_of("good"), PeerState::kUnreachable);
  clock_.advance(std::chrono::seconds(1));
  EXPECT_EQ(state_of("good"), PeerState::kStale);
  ASSERT_TRUE(imports_->record_unchanged("good"));  // a success again
  EXPECT_EQ(state_of("good"), PeerState::kConnected);
  ASSERT_TRUE(imports_->quarantine({"root", {workflow::Role::kAdmin}}, "good", "test"));
  EXPECT_EQ(state_of("good"), PeerState::kQuarantined);
  EXPECT_EQ(to_string(PeerState::kQuarantined), "quarantined");
}

}  // namespace
}  // namespace meshfed::federation
