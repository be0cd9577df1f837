// The importing side's state machine, driven by the manual clock without processes or sleeps:
// every state and the ways in and out of it, per-peer shares of the egress range, refused
// catalogs changing nothing, and every store failure in the middle of an operation.
#include "meshfed/federation/imports.hpp"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include "meshfed/core/text.hpp"

#include <functional>
#include <set>

#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/import_repository.hpp"
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
    s.peers["careful"] = {"careful", "careful", config::ImportPolicy::kManual, 2};
    s.egress_ports = config::PortRange{16000, 16003};
    s.egress_host = "127.0.0.1";
    imports_ = std::make_unique<ImportManager>(*db_, clock_, adapter_, s, &control_plane_);
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
  ImportState state(const std::string& id) { return get(id).state; }
  std::string reason(const std::string& id) { return get(id).reason; }

  std::vector<audit::Entry> audit_with(const std::string& action) {
    std::vector<audit::Entry> out;
    (void)db_->read([&](store::Reader& tx) -> Status {
      for (auto& e : testing::must(store::AuditQueries(tx).list(0, 10000))) {
        if (e.action == action) out.push_back(std::move(e));
      }
      return {};
    });
    return out;
  }

  const workflow::Principal approver_{"bob", {workflow::Role::kApprover}};
  const workflow::Principal admin_{"root", {workflow::Role::kAdmin}};
  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  testing::FakeAdapter adapter_;
  SerialExecutor control_plane_{"test-cp"};  // as the broker hands catalogs to the control plane
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<ImportManager> imports_;
};

// A peer that keeps changing is held to its change budget: an answer that would cause more
// steps than the budget holds is rolled back, the peer is flapping (audited once a minute), and
// the answer applies once the budget has refilled.
// Withdrawals are never held back: what left a flapping peer's catalog (a revocation) leaves the
// store and the control plane at once, while what the answer adds waits for the refill. They
// are still charged to the budget (down to empty), or undoing additions would be free.
TEST_F(ImportsTest, AHeldBackAnswerStillWithdrawsWhatLeftTheCatalog) {
  ImportSettings s;
  s.peers["churn"] = {"churn", "churn", config::ImportPolicy::kAuto, 32, 10, 10};
  s.egress_ports = config::PortRange{16000, 16063};
  s.egress_host = "127.0.0.1";
  imports_ = std::make_unique<ImportManager>(*db_, clock_, adapter_, s);
  auto delta = [&](std::vector<std::string> ids, int64_t revision, std::vector<std::string> removals = {}) {
    CatalogAnswer a = full("churn", ids, revision);
    a.full = false;
    a.removals = std::move(removals);
    return a;
  };
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"a", "b", "c", "d"}, 1)));
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"e", "f", "g", "h"}, 2)));
  ASSERT_TRUE(adapter_.applied.back().count("churn.a"));
  // 8 steps of 10 taken: four more imports and two removals do not fit; the removals apply all
  // the same, and take the 2 steps left.
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"i", "j", "k", "l"}, 3, {"a", "b"})));
  EXPECT_EQ(imports_->get("churn.i").error().code, ErrorCode::kNotFound) << "held back";
  EXPECT_EQ(imports_->revision("churn").value(), 2) << "asked again from where it was";
  EXPECT_EQ(state("churn.a"), ImportState::kWithdrawn);
  EXPECT_EQ(state("churn.b"), ImportState::kWithdrawn);
  EXPECT_FALSE(adapter_.applied.back().count("churn.a")) << "the control plane let go at once";
  EXPECT_TRUE(adapter_.applied.back().count("churn.c"));
  const auto applied = audit_with("import.catalog_applied");
  ASSERT_EQ(applied.size(), 3u);
  EXPECT_EQ(applied.back().details["withdrawals_only"], true);
  EXPECT_EQ(applied.back().details["imports"], 2);
  // Asked again before the refill: nothing left to withdraw, nothing written.
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"i", "j", "k", "l"}, 3, {"a", "b"})));
  EXPECT_EQ(audit_with("import.catalog_applied").size(), 3u);
  // The budget is empty: 4 steps refill in 24 s, and the 4 fit.
  clock_.advance(std::chrono::seconds(12));
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"i", "j", "k", "l"}, 3, {"a", "b"})));
  EXPECT_EQ(imports_->get("churn.i").error().code, ErrorCode::kNotFound) << "2 steps refilled, 4 wanted";
  clock_.advance(std::chrono::seconds(12));
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"i", "j", "k", "l"}, 3, {"a", "b"})));
  EXPECT_EQ(state("churn.i"), ImportState::kActive);
}

TEST_F(ImportsTest, APeerOverItsChangeBudgetIsFlappingAndItsAnswersWaitForTheRefill) {
  ImportSettings s;
  s.peers["churn"] = {"churn", "churn", config::ImportPolicy::kAuto, 32, 10, 10};
  s.peers["good"] = {"good", "good", config::ImportPolicy::kAuto, 32, 10, 10};
  s.egress_ports = config::PortRange{16000, 16063};
  s.egress_host = "127.0.0.1";
  imports_ = std::make_unique<ImportManager>(*db_, clock_, adapter_, s);
  auto state_of = [&](const std::string& peer) {
    const auto peers = imports_->peers();
    EXPECT_TRUE(peers.ok());
    if (peers.ok()) {
      for (const auto& p : *peers) {
        if (p.record.domain == peer) return p.state;
      }
    }
    return PeerState::kStale;
  };
  auto delta = [&](std::vector<std::string> ids, int64_t revision) {
    CatalogAnswer a = full("churn", ids, revision);
    a.full = false;
    return a;
  };
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"a", "b", "c", "d"}, 1)));
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"e", "f", "g", "h"}, 2)));
  EXPECT_EQ(state_of("churn"), PeerState::kConnected);
  // 8 steps taken of 10; 4 more would be 12. (Listing known imports again costs nothing.)
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"a", "b", "c", "d"}, 2)));
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"i", "j", "k", "l"}, 3)));
  EXPECT_EQ(imports_->get("churn.i").error().code, ErrorCode::kNotFound) << "rolled back";
  EXPECT_EQ(imports_->revision("churn").value(), 2) << "asked again from where it was";
  EXPECT_EQ(state_of("churn"), PeerState::kFlapping);
  EXPECT_EQ(to_string(PeerState::kFlapping), "flapping");
  // 2 steps missing at 10 a minute: the watcher asks again in 12 s.
  EXPECT_EQ(imports_->budget_wait("churn"), std::chrono::seconds(12));
  EXPECT_EQ(imports_->budget_wait("good"), std::chrono::seconds(0));
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"i", "j", "k", "l"}, 3)));
  ASSERT_EQ(audit_with("peer.flapping").size(), 1u) << "one entry a minute, not one per answer";
  EXPECT_EQ(audit_with("peer.flapping")[0].details["answer_steps"], 4);
  EXPECT_EQ(audit_with("import.catalog_applied").size(), 2u) << "nothing of the held-back answers was written";
  // Another peer has a budget of its own.
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1", "g2"}, 1)));
  EXPECT_EQ(state_of("good"), PeerState::kConnected);
  // 12 s refill 2 steps: 4 fit, and the peer is no longer flapping.
  clock_.advance(std::chrono::seconds(12));
  EXPECT_EQ(imports_->budget_wait("churn"), std::chrono::seconds(0));
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"i", "j", "k", "l"}, 3)));
  EXPECT_EQ(state("churn.i"), ImportState::kActive);
  EXPECT_EQ(state_of("churn"), PeerState::kConnected);
  // An answer larger than the whole burst can never fit: the next ask is a full catalog.
  clock_.advance(std::chrono::minutes(5));
  ASSERT_TRUE(imports_->apply_catalog("churn", delta({"m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w"}, 4)));
  EXPECT_EQ(imports_->revision("churn").value(), 0);
  EXPECT_EQ(audit_with("peer.flapping").size(), 2u) << "a new minute, a new entry";
}

// One catalog answer is one audit entry, however many imports it moves; each import's steps
// are in its own history, under that entry's seq.
TEST_F(ImportsTest, ACatalogAnswerIsOneAuditEntryAndEachImportKeepsItsOwnHistory) {
  const auto before = audit_with("import.active").size();
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1", "g2"}, 1)));
  auto applied = audit_with("import.catalog_applied");
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].details["steps"]["active"], 2);
  EXPECT_EQ(applied[0].details["imports"], 2);
  EXPECT_EQ(applied[0].details["ids_sha256"], sha256_hex("good.g1\ngood.g2\n"));
  EXPECT_EQ(audit_with("import.active").size(), before) << "no entry per import";
  auto steps = imports_->history("good.g1").value();
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].to, "active");
  EXPECT_EQ(steps[0].audit_seq, applied[0].seq);
  // A change of what an active import points at is a step too, counted as "changed".
  CatalogAnswer renamed = full("good", {"g1", "g2"}, 2);
  renamed.exports[0].alias = "g1-new";
  renamed.exports[1].port = 9001;
  ASSERT_TRUE(imports_->apply_catalog("good", renamed));
  applied = audit_with("import.catalog_applied");
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied[1].details["steps"]["changed"], 2);
  steps = imports_->history("good.g1").value();
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[1].reason, "changed: alias");
  EXPECT_EQ(steps[1].from, "active");
  EXPECT_EQ(imports_->history("good.g2").value().back().reason, "changed: service");
  // The exporter's L7 rules are shown on the import, and a change of them is a step of its own.
  renamed.exports[0].protocol = "http";
  renamed.exports[0].l7 = R"({"http":[{"methods":["GET"],"path":{"prefix":"/v1/rates/"}}]})";
  ASSERT_TRUE(imports_->apply_catalog("good", renamed));
  EXPECT_EQ(imports_->history("good.g1").value().back().reason, "changed: protocol, l7");
  EXPECT_EQ(get("good.g1").l7, renamed.exports[0].l7);
  EXPECT_EQ(import_json(get("good.g1"), "")["l7"]["http"][0]["path"]["prefix"], "/v1/rates/");
  EXPECT_TRUE(import_json(get("good.g2"), "")["l7"].is_null());
  EXPECT_EQ(audit_with("import.catalog_applied").size(), 3u);
  // An answer that moves nothing writes nothing.
  ASSERT_TRUE(imports_->apply_catalog("good", renamed));
  EXPECT_EQ(audit_with("import.catalog_applied").size(), 3u);
  // An operator's decision keeps an entry of its own.
  ASSERT_TRUE(imports_->act_on_peer(admin_, "good", "incident", ImportManager::PeerAction::kQuarantine));
  EXPECT_EQ(audit_with("import.withdrawn").size(), 2u);
  EXPECT_EQ(imports_->history("good.g1").value().back().audit_seq, audit_with("import.withdrawn")[0].seq);
}

TEST_F(ImportsTest, APeerGoingSilentIsOneAuditEntryForAllItsImports) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1", "g2"}, 1)));
  clock_.advance(std::chrono::seconds(61));  // past stale_after_s
  ASSERT_TRUE(imports_->tick());
  EXPECT_EQ(state("good.g1"), ImportState::kStale);
  const auto swept = audit_with("import.swept");
  ASSERT_EQ(swept.size(), 1u);
  EXPECT_EQ(swept[0].details["steps"]["stale"], 2);
  EXPECT_EQ(audit_with("import.stale").size(), 0u);
  EXPECT_EQ(imports_->history("good.g2").value().back().audit_seq, swept[0].seq);
  ASSERT_TRUE(imports_->tick());
  EXPECT_EQ(audit_with("import.swept").size(), 1u) << "a sweep that moves nothing writes nothing";
}

TEST_F(ImportsTest, WithdrawnImportsAndTheirHistoryArePrunedAfterTheirRetention) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1", "g2"}, 1)));
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g2"}, 2)));  // g1 left the catalog
  ASSERT_EQ(state("good.g1"), ImportState::kWithdrawn);
  clock_.advance(std::chrono::hours(24 * 29));
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g2"}, 3)));  // g2 seen again now
  EXPECT_EQ(imports_->prune_withdrawn(30).value(), 0) << "29 days: kept";
  clock_.advance(std::chrono::hours(24 * 2));
  EXPECT_EQ(imports_->prune_withdrawn(30).value(), 1);
  EXPECT_EQ(imports_->get("good.g1").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(imports_->history("good.g1").value().empty()) << "its history goes with it";
  EXPECT_EQ(state("good.g2"), ImportState::kActive) << "what is not withdrawn stays, however old";
  EXPECT_FALSE(imports_->history("good.g2").value().empty());
}

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

// A catalog's imports reach the control plane while their commit is made durable; a commit
// that then fails is taken back out of the control plane, which ends up as the store says.
TEST_F(ImportsTest, ACatalogWhoseCommitFailsIsTakenBackFromTheControlPlane) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1"}, 1)));
  ASSERT_EQ(adapter_.applied.back(), std::set<std::string>{"good.g1"});
  db_->fail_next_commit();
  const Status failed = imports_->apply_catalog("good", full("good", {"g1", "g2"}, 2));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(imports_->get("good.g2").error().code, ErrorCode::kNotFound) << "the store never held it";
  ASSERT_GE(adapter_.applied.size(), 3u);
  EXPECT_EQ(adapter_.applied[adapter_.applied.size() - 2], (std::set<std::string>{"good.g1", "good.g2"}))
      << "handed over before the commit";
  EXPECT_EQ(adapter_.applied.back(), std::set<std::string>{"good.g1"}) << "and taken back after it failed";
  EXPECT_EQ(imports_->revision("good").value(), 1);
  // The next answer applies it for good.
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1", "g2"}, 2)));
  EXPECT_EQ(state("good.g2"), ImportState::kActive);
  EXPECT_EQ(adapter_.applied.back(), (std::set<std::string>{"good.g1", "good.g2"}));
}

// A catalog answer brings the kept desired state up to date from what it saved, instead of
// reading every import: after each answer it must be exactly what a full read gives.
TEST_F(ImportsTest, TheDesiredStateKeptAcrossAnswersIsWhatAFullReadGives) {
  const auto by_id = [](std::vector<controlplane::DesiredImport> v) {
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return v;
  };
  const auto matches_a_full_read = [&](const std::string& step) {
    testing::FakeAdapter other;
    ImportManager fresh(*db_, clock_, other, imports_->settings());
    ASSERT_TRUE(fresh.reconcile());
    EXPECT_FALSE(other.last.imports.empty()) << step;
    EXPECT_EQ(by_id(adapter_.last.imports), by_id(other.last.imports)) << step;
  };
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1"}, 1)));
  matches_a_full_read("first answer");
  CatalogAnswer delta = full("good", {"g2"}, 2);
  delta.full = false;
  delta.exports.push_back(exported("good", "g1"));
  delta.exports.back().alias = "g1-renamed";
  delta.exports.back().port = 9100;
  ASSERT_TRUE(imports_->apply_catalog("good", delta));
  matches_a_full_read("a delta adding one and changing another");
  ASSERT_TRUE(imports_->apply_catalog("evil", full("evil", {"e1", "e2", "e3"}, 1)));
  ASSERT_EQ(state("evil.e3"), ImportState::kFailed);
  matches_a_full_read("an import without a port");
  ASSERT_TRUE(imports_->apply_catalog("evil", full("evil", {"e2", "e3"}, 2)));
  ASSERT_EQ(state("evil.e3"), ImportState::kActive);
  matches_a_full_read("one left, the portless one took its port");
  // Changed outside an answer (an approver accepts one): the next answer reads anew.
  ASSERT_TRUE(imports_->apply_catalog("careful", full("careful", {"c1"}, 1)));
  ASSERT_TRUE(imports_->accept(approver_, "careful.c1", std::nullopt).ok());
  delta = full("good", {}, 3);
  delta.full = false;
  delta.removals = {"g1"};
  ASSERT_TRUE(imports_->apply_catalog("good", delta));
  matches_a_full_read("after an acceptance, a removal");
  // More changes than are tracked (a full snapshot after a reconnect): read back in one query.
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i) many.push_back("m" + std::to_string(i));
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", many, 4)));
  matches_a_full_read("a snapshot of 100");
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"m1", "m2"}, 5)));
  matches_a_full_read("back to two");
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

// Replicas: on a follower, what reaches reconcile() (an accept, a reload) changes the store only;
// the control plane and what it answers are the leader's, which reconciles once it leads.
// Ports another program holds are never given out; a port the egress could not bind moves its
// import to a free one, or fails it with the reason when none is left; after a while (manual
// clock) the held ports are tried again and the failed import gets one.
TEST_F(ImportsTest, AnEgressPortAnotherProgramHoldsIsNeverGivenAndARefusedOneMovesTheImport) {
  std::set<int> held_elsewhere = {16000};
  ImportSettings s = imports_->settings();
  s.port_bindable = [&](int port) { return !held_elsewhere.count(port); };
  ASSERT_TRUE(imports_->update_settings(s));
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1"}, 1)));
  EXPECT_EQ(get("good.g1").local_port, 16001);
  EXPECT_EQ(adapter_.last.imports.at(0).local_port, 16001);

  held_elsewhere = {16000, 16001, 16002};
  ASSERT_TRUE(imports_->egress_port_refused("good.g1", 16001, "Address already in use"));
  EXPECT_EQ(get("good.g1").local_port, 16003);
  EXPECT_EQ(get("good.g1").state, ImportState::kActive);
  EXPECT_EQ(adapter_.last.imports.at(0).local_port, 16003);
  EXPECT_EQ(audit_with("import.egress_port_moved").size(), 1u);
  // A stale report (the import moved on) changes nothing.
  ASSERT_TRUE(imports_->egress_port_refused("good.g1", 16001, "Address already in use"));
  EXPECT_EQ(get("good.g1").local_port, 16003);

  held_elsewhere = {16000, 16001, 16002, 16003};
  ASSERT_TRUE(imports_->egress_port_refused("good.g1", 16003, "Address already in use"));
  const auto failed = get("good.g1");
  EXPECT_EQ(failed.state, ImportState::kFailed);
  EXPECT_FALSE(failed.local_port.has_value());
  EXPECT_EQ(failed.reason,
            "no free egress port in 16000-16003 (4 held by other programs on this host); port 16003: Address already "
            "in use");
  EXPECT_TRUE(adapter_.last.imports.empty());  // never pointed at a port we do not hold

  held_elsewhere = {16000, 16001, 16002};
  clock_.advance(std::chrono::seconds(31));
  ASSERT_TRUE(imports_->tick());
  EXPECT_EQ(get("good.g1").state, ImportState::kActive);
  EXPECT_EQ(get("good.g1").local_port, 16003);
}

// With the egress in its own process, a port given here reaches the control plane only once
// that process says it listens on it; until then the import shows no local address, and why.
TEST_F(ImportsTest, WithASeparateEgressAnImportIsPublishedOnlyOnceItsPortIsHeld) {
  ImportSettings s = imports_->settings();
  s.egress_confirms = true;
  ASSERT_TRUE(imports_->update_settings(s));
  // Until an egress process has shown up, imports are published as they come.
  ASSERT_TRUE(imports_->apply_catalog("evil", full("evil", {"e1"}, 1)));
  EXPECT_EQ(adapter_.last.imports.size(), 1u);
  EXPECT_EQ(imports_->awaiting_egress(), 0u);
  imports_->egress_process_seen();
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1"}, 1)));
  ASSERT_EQ(adapter_.last.imports.size(), 1u);
  EXPECT_EQ(adapter_.last.imports[0].id, "evil.e1");
  EXPECT_EQ(imports_->awaiting_egress(), 1u);
  const auto waiting = get("good.g1");
  EXPECT_EQ(waiting.state, ImportState::kActive);
  EXPECT_FALSE(waiting.local_port.has_value());
  EXPECT_EQ(waiting.reason, "waiting for the egress gateway to listen on port 16001");

  ASSERT_TRUE(imports_->egress_listening({{"good.g1", 16002}}));  // not the port it was given
  EXPECT_EQ(adapter_.last.imports.size(), 1u);
  ASSERT_TRUE(imports_->egress_listening({{"good.g1", 16001}}));
  ASSERT_EQ(adapter_.last.imports.size(), 2u);
  EXPECT_EQ(get("good.g1").local_port, 16001);
  EXPECT_EQ(get("good.g1").reason, "");
  EXPECT_EQ(imports_->awaiting_egress(), 0u);

  // A port the egress then cannot bind moves the import, which waits for the egress again.
  ASSERT_TRUE(imports_->egress_port_refused("good.g1", 16001, "Address already in use"));
  EXPECT_EQ(adapter_.last.imports.size(), 1u);
  EXPECT_EQ(imports_->awaiting_egress(), 1u);
  // A move whose commit fails is not awaited once the control plane is reconciled with the store.
  ASSERT_TRUE(imports_->egress_listening({{"good.g1", 16002}}));
  EXPECT_EQ(imports_->awaiting_egress(), 0u);
  db_->fail_next_commit();
  EXPECT_FALSE(imports_->egress_port_refused("good.g1", 16002, "Address already in use"));
  EXPECT_EQ(get("good.g1").local_port, 16002);
  ASSERT_TRUE(imports_->reconcile());
  EXPECT_EQ(imports_->awaiting_egress(), 0u);
  // A withdrawal drops what was awaited.
  ASSERT_TRUE(imports_->egress_port_refused("good.g1", 16002, "Address already in use"));
  EXPECT_EQ(imports_->awaiting_egress(), 1u);
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {}, 2)));
  EXPECT_EQ(imports_->awaiting_egress(), 0u);
}

// Quarantine is checked inside the transaction that applies a catalog: an answer that was in
// flight when the quarantine committed (the watcher checked before it) changes nothing.
TEST_F(ImportsTest, AnAnswerInFlightWhenTheQuarantineLandsIsNotApplied) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1"}, 1)));
  ASSERT_TRUE(imports_->quarantine(admin_, "good", "incident"));
  const auto applied_before = adapter_.applied.size();
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1", "g2"}, 2)));
  EXPECT_EQ(adapter_.applied.size(), applied_before);  // the control plane was not touched
  ASSERT_TRUE(imports_->record_unchanged("good"));
  EXPECT_EQ(state("good.g1"), ImportState::kWithdrawn);
  EXPECT_FALSE(imports_->get("good.g2").ok());  // never recorded
  for (const auto& i : adapter_.last.imports) EXPECT_NE(i.peer, "good") << i.id;
  EXPECT_EQ(imports_->revision("good").value(), 0);  // the next answer after release is full

  ASSERT_TRUE(imports_->release(admin_, "good", "closed"));
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1", "g2"}, 3)));
  EXPECT_EQ(state("good.g1"), ImportState::kActive);
  EXPECT_EQ(state("good.g2"), ImportState::kActive);
}

TEST_F(ImportsTest, AFollowerLeavesTheControlPlaneToTheLeader) {
  bool leading = false;
  imports_->set_leading([&] { return leading; });
  adapter_.refused["good.g1"] = "mesh default is not there";
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"g1"}, 1)));
  EXPECT_EQ(state("good.g1"), ImportState::kActive);  // stored, not applied: nothing learned yet
  leading = true;
  ASSERT_TRUE(imports_->reconcile());
  EXPECT_EQ(state("good.g1"), ImportState::kFailed);
  EXPECT_EQ(reason("good.g1"), "mesh default is not there");
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

// The peer API and the watcher refuse a peer whose quarantine they cannot read; this is the
// answer they get: an error, never "not quarantined".
TEST_F(ImportsTest, AQuarantineThatCannotBeReadIsAnErrorNotANo) {
  const auto readable = imports_->is_quarantined("good");
  ASSERT_TRUE(readable.ok());
  EXPECT_FALSE(*readable);
  db_->execute("ALTER TABLE peers RENAME TO peers_unreadable");  // every read of peers now fails
  const auto unreadable = imports_->is_quarantined("good");
  ASSERT_FALSE(unreadable.ok());
  EXPECT_EQ(unreadable.error().message, "cannot read whether peer good is quarantined");
}

// A state this binary does not know (a damaged row, a newer schema) is an error, not a guess.
TEST_F(ImportsTest, AnUnknownStoredStateIsAnErrorNotADefault) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 1)).ok());
  ASSERT_EQ(get("good.e1").state, ImportState::kActive);
  db_->execute("UPDATE imports SET state = 'frozen' WHERE id = 'good.e1'");
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
  EXPECT_EQ(state_of("good"), PeerState::kUnreachable);  // never answered: nothing of it is stale
  clock_.advance(std::chrono::hours(1));
  ASSERT_TRUE(imports_->record_failure("good", "connection refused"));
  EXPECT_EQ(state_of("good"), PeerState::kUnreachable);
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
  const auto peers = imports_->peers();
  ASSERT_TRUE(peers.ok());
  for (const auto& p : *peers) {
    if (p.record.domain == "good") {
      EXPECT_EQ(p.record.last_error, "") << "a connected peer shows no old error";
    }
  }
  ASSERT_TRUE(imports_->quarantine({"root", {workflow::Role::kAdmin}}, "good", "test"));
  EXPECT_EQ(state_of("good"), PeerState::kQuarantined);
  EXPECT_EQ(to_string(PeerState::kQuarantined), "quarantined");
}

// A neighbour that stops is one warning, not one per retry; a different failure, or failing
// again after it answered, is news again.
TEST_F(ImportsTest, APeerFailingTheSameWayIsWarnedAboutOnceNotAtEveryRetry) {
  testing::LogCapture log;
  const auto warnings_of = [&](const std::string& text) {
    const std::string all = log.text();
    size_t n = 0;
    for (size_t at = all.find(text); at != std::string::npos; at = all.find(text, at + 1)) ++n;
    return n;
  };
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 1)));
  for (int retry = 0; retry < 20; ++retry) {
    clock_.advance(std::chrono::seconds(1));
    ASSERT_TRUE(imports_->record_failure("good", "connection refused"));
  }
  EXPECT_EQ(warnings_of("peer good: connection refused"), 1u) << log.text();
  ASSERT_TRUE(imports_->record_failure("good", "TLS handshake failed: certificate expired"));
  EXPECT_EQ(warnings_of("peer good: TLS handshake failed"), 1u);
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(imports_->record_unchanged("good"));
  EXPECT_EQ(warnings_of("peer good: answering again"), 1u) << log.text();
  ASSERT_TRUE(imports_->record_unchanged("good"));
  EXPECT_EQ(warnings_of("peer good: answering again"), 1u);  // said once, when it came back
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(imports_->record_failure("good", "connection refused"));
  EXPECT_EQ(warnings_of("peer good: connection refused"), 2u);  // down again after answering: news
}

TEST_F(ImportsTest, AManualPeersImportWaitsForAnApproverWhoAcceptsOrRejectsForGood) {
  ASSERT_TRUE(imports_->apply_catalog("careful", full("careful", {"a", "b"}, 1)));
  EXPECT_EQ(state("careful.a"), ImportState::kPendingAcceptance);
  EXPECT_FALSE(get("careful.a").local_port);  // no egress port before someone accepts
  EXPECT_EQ(imports_->accept({"alice", {workflow::Role::kRequester}}, "careful.a", std::nullopt).error().code,
            ErrorCode::kPermissionDenied);
  ASSERT_TRUE(imports_->decide(approver_, "careful.a", std::nullopt, ImportManager::Decision::kAccept));
  EXPECT_EQ(state("careful.a"), ImportState::kActive);
  EXPECT_TRUE(get("careful.a").local_port);
  ASSERT_TRUE(imports_->decide(approver_, "careful.b", std::nullopt, ImportManager::Decision::kReject));
  EXPECT_EQ(state("careful.b"), ImportState::kRejected);
  ASSERT_TRUE(imports_->apply_catalog("careful", full("careful", {"a", "b"}, 2)));  // listed again
  EXPECT_EQ(state("careful.a"), ImportState::kActive);
  EXPECT_EQ(state("careful.b"), ImportState::kRejected);
}

TEST_F(ImportsTest, SilenceMakesImportsStaleThenWithdrawsThemAndTheNextFullSnapshotRevivesThem) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 3)));
  const auto port = get("good.e1").local_port;
  ASSERT_TRUE(port);
  clock_.advance(std::chrono::seconds(60));  // stale_after: not yet
  ASSERT_TRUE(imports_->tick());
  EXPECT_EQ(state("good.e1"), ImportState::kActive);
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(imports_->tick());
  EXPECT_EQ(state("good.e1"), ImportState::kStale);
  EXPECT_EQ(get("good.e1").local_port, port);                             // a stale import keeps its route meanwhile
  ASSERT_TRUE(imports_->record_unchanged("good"));                        // an answer revives nothing by itself...
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 3)));  // ...a catalog does
  EXPECT_EQ(state("good.e1"), ImportState::kActive);

  clock_.advance(std::chrono::seconds(601));  // withdraw_after
  ASSERT_TRUE(imports_->tick());
  EXPECT_EQ(state("good.e1"), ImportState::kWithdrawn);
  EXPECT_EQ(reason("good.e1"), kPeerSilent);
  EXPECT_EQ(imports_->revision("good").value(), 0);  // the peer is asked for a full snapshot next
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 4)));
  EXPECT_EQ(state("good.e1"), ImportState::kActive);
  EXPECT_TRUE(get("good.e1").local_port);
}

TEST_F(ImportsTest, AnExportThatLeavesTheCatalogOrExpiresIsWithdrawnForGood) {
  const int64_t soon = to_unix_ms(clock_.now()) + 30'000;
  auto listing = [&](const std::vector<std::string>& ids, int64_t revision) {
    CatalogAnswer a = full("good", ids, revision);
    for (auto& e : a.exports) {
      if (e.id == "expiring") e.expires_at_ms = soon;
    }
    return a;
  };
  ASSERT_TRUE(imports_->apply_catalog("good", listing({"left", "delta", "expiring"}, 1)));
  ASSERT_TRUE(imports_->apply_catalog("good", listing({"delta", "expiring"}, 2)));
  EXPECT_EQ(state("good.left"), ImportState::kWithdrawn);
  EXPECT_EQ(reason("good.left"), kLeftCatalog);
  CatalogAnswer removal;
  removal.revision = 3;
  removal.full = false;
  removal.removals = {"delta"};
  ASSERT_TRUE(imports_->apply_catalog("good", removal));
  EXPECT_EQ(state("good.delta"), ImportState::kWithdrawn);
  clock_.advance(std::chrono::seconds(31));  // expiry holds whether or not the peer answers
  ASSERT_TRUE(imports_->tick());
  EXPECT_EQ(state("good.expiring"), ImportState::kWithdrawn);
  EXPECT_EQ(reason("good.expiring"), kExpired);
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"left"}, 4)));  // not reversible
  EXPECT_EQ(state("good.left"), ImportState::kWithdrawn);
  EXPECT_FALSE(get("good.left").local_port);
}

TEST_F(ImportsTest, AControlPlaneRefusalFailsTheImportUntilTheControlPlaneTakesIt) {
  adapter_.refused["good.e1"] = "MeshExternalService rejected: quota";
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 1)));
  EXPECT_EQ(state("good.e1"), ImportState::kFailed);
  EXPECT_EQ(reason("good.e1"), "MeshExternalService rejected: quota");
  adapter_.refused.clear();
  ASSERT_TRUE(imports_->reconcile());
  EXPECT_EQ(state("good.e1"), ImportState::kActive);
}

TEST_F(ImportsTest, AQuarantinedPeersImportsAreWithdrawnAndComeBackWithItsFirstCatalogAfterRelease) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 5)));
  EXPECT_EQ(imports_->quarantine(approver_, "good", "x").error().code, ErrorCode::kPermissionDenied);
  ASSERT_TRUE(imports_->act_on_peer(admin_, "good", "investigating", ImportManager::PeerAction::kQuarantine));
  EXPECT_EQ(state("good.e1"), ImportState::kWithdrawn);
  EXPECT_EQ(reason("good.e1"), kPeerQuarantined);
  const auto port = get("good.e1").local_port;
  EXPECT_TRUE(port);  // a reversible withdrawal keeps the egress port for the import's return
  EXPECT_TRUE(imports_->is_quarantined("good").value());
  EXPECT_EQ(imports_->revision("good").value(), 0);
  ASSERT_TRUE(imports_->act_on_peer(admin_, "good", "cleared", ImportManager::PeerAction::kRelease));
  EXPECT_FALSE(imports_->is_quarantined("good").value());
  EXPECT_EQ(state("good.e1"), ImportState::kWithdrawn);  // until the peer lists it again
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 6)));
  EXPECT_EQ(state("good.e1"), ImportState::kActive);
  EXPECT_EQ(get("good.e1").local_port, port);
  EXPECT_EQ(audit_with("peer.quarantined").size(), 1u);
  EXPECT_EQ(audit_with("peer.released").size(), 1u);
}

TEST_F(ImportsTest, APeerRemovedFromTheConfigLosesItsImportsAndStartsOverWhenAddedBack) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 7)));
  ImportSettings without = imports_->settings();
  without.peers.erase("good");
  ASSERT_TRUE(imports_->update_settings(without));
  EXPECT_EQ(state("good.e1"), ImportState::kWithdrawn);
  EXPECT_EQ(reason("good.e1"), kPeerRemoved);
  EXPECT_EQ(imports_->apply_catalog("good", full("good", {"e1"}, 8)).error().code, ErrorCode::kInvalidArgument);
  ImportSettings with = without;
  with.peers["good"] = {"good", "good", config::ImportPolicy::kAuto, 2};
  ASSERT_TRUE(imports_->update_settings(with));
  EXPECT_EQ(imports_->revision("good").value(), 0);  // a full snapshot first
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 8)));
  EXPECT_EQ(state("good.e1"), ImportState::kActive);
}

// A store written before peering says "peer removed from config": such an import still comes
// back when its peer does.
TEST_F(ImportsTest, AnImportWithdrawnByAnOlderVersionForARemovedPeerComesBackToo) {
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 7)));
  ImportSettings without = imports_->settings();
  without.peers.erase("good");
  ASSERT_TRUE(imports_->update_settings(without));
  ASSERT_TRUE(db_->transaction([](store::Writer& tx) -> Status {
                   store::ImportRepository repo(tx);
                   MESHFED_ASSIGN_OR_RETURN(auto r, repo.get("good.e1"));
                   r->reason = "peer removed from config";
                   return repo.save(*r);
                 })
                  .ok());
  ImportSettings with = without;
  with.peers["good"] = {"good", "good", config::ImportPolicy::kAuto, 2};
  ASSERT_TRUE(imports_->update_settings(with));
  ASSERT_TRUE(imports_->apply_catalog("good", full("good", {"e1"}, 8)));
  EXPECT_EQ(state("good.e1"), ImportState::kActive);
}

// The n-th store statement fails, for every n the operations reach: the failing operation
// reports an error, and once the store works again, repeating it (as the watcher or an operator
// does) ends exactly where the same operations end without faults, with no transition or audit
// entry lost or written twice.
TEST_F(ImportsTest, AStoreFailureAtAnyStatementLeavesNothingHalfDoneAndARetryConverges) {
  const std::vector<std::function<Status(ImportManager&)>> steps = {
      [](ImportManager& m) {
        return m.apply_catalog("good", full("good", {"e1", "e2"}, 1));
      },
      [](ImportManager& m) {
        return m.apply_catalog("careful", full("careful", {"c1", "c2"}, 1));
      },
      [this](ImportManager& m) -> Status {
        auto r = m.accept(approver_, "careful.c1", std::nullopt);
        if (!r) return r.error();
        return {};
      },
      [this](ImportManager& m) -> Status {
        auto r = m.reject(approver_, "careful.c2", std::nullopt);
        if (!r) return r.error();
        return {};
      },
      [](ImportManager& m) {
        return m.apply_catalog("good", full("good", {"e2", "e3"}, 2));
      },
      [this](ImportManager& m) { return m.quarantine(admin_, "good", "test"); },
      [this](ImportManager& m) { return m.release(admin_, "good", "cleared"); },
      [](ImportManager& m) { return m.apply_catalog("good", full("good", {"e3"}, 3)); },
  };
  auto outcome = [](store::Database& db, ImportManager& m) {
    std::string out;
    for (const auto& id : {"good.e1", "good.e2", "good.e3", "careful.c1", "careful.c2"}) {
      const auto r = m.get(id);
      out += std::string(id) + "=" +
             (r ? std::string(store::to_string(r->state)) + "/" + r->reason + (r->local_port ? "/port" : "") : "none") +
             " ";
    }
    (void)db.read([&](store::Reader& tx) -> Status {
      out += "audit=" + std::to_string(testing::must(store::AuditQueries(tx).list(0, 10000)).size());
      return {};
    });
    return out;
  };
  auto run = [&](int64_t fail_at, int& failed_steps, std::string& first_error) {
    testing::TempDir dir;
    auto db = std::move(store::Database::open(dir / "m.db")).value();
    ImportManager m(*db, clock_, adapter_, imports_->settings());
    db->fail_nth_statement(fail_at);
    for (const auto& step : steps) {
      Status st = step(m);
      if (st) continue;
      ++failed_steps;
      if (first_error.empty()) first_error = st.error().message;
      EXPECT_EQ(st.error().code, ErrorCode::kUnavailable) << st.error().message;
      db->fail_nth_statement(0);
      st = step(m);  // the same operation again, the store working
      EXPECT_TRUE(st.ok()) << "statement " << fail_at << ": the retry failed: " << st.error().message;
    }
    return outcome(*db, m);
  };
  int none = 0;
  std::string no_error;
  const std::string expected = run(0, none, no_error);
  ASSERT_EQ(none, 0);
  int reached = 0;
  for (int64_t n = 1; n < 1000; ++n) {
    int failed_steps = 0;
    std::string error;
    const std::string got = run(n, failed_steps, error);
    if (failed_steps == 0) break;  // n is past the last statement: each earlier one failed once
    reached = static_cast<int>(n);
    EXPECT_EQ(failed_steps, 1);
    EXPECT_EQ(got, expected) << "statement " << n << " failed: " << error;
  }
  EXPECT_GE(reached, 30);  // the walk went through every step, each of which writes
}

}  // namespace
}  // namespace meshfed::federation
