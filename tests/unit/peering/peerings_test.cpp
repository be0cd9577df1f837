#include "meshfed/peering/peerings.hpp"

#include <gtest/gtest.h>

#include "meshfed/peering/bundle.hpp"
#include "meshfed/pki/pki.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/peering_repository.hpp"
#include "support/test_support.hpp"

namespace meshfed::peering {
namespace {

using testing::must;
using workflow::Principal;
using workflow::Role;

class PeeringsTest : public ::testing::Test {
 protected:
  PeeringsTest() {
    auto edge = testing::make_domain(dir_.path() / "edge", "edge", {});
    edge.config["peer_api"] = {{"listen", "0.0.0.0:9443"}, {"advertise", "broker.edge.example:9443"}};
    edge.save_config();
    edge_ = must(bundle_of(must(config::load_config(edge.config_file))));
  }

  // A proposal of `b` with its own fingerprint.
  static Proposal proposal_of(const Bundle& b) {
    Proposal p;
    p.bundle = to_json(b);
    p.fingerprint = fingerprint(b);
    p.reason = "the edge site joins";
    return p;
  }
  Bundle named(const std::string& domain) const {
    Bundle b = edge_;
    b.domain = b.trust_domain = domain;
    return b;
  }
  std::vector<std::string> audited() {
    return must(store::read_value(*db_, [](store::Reader& tx) -> Result<std::vector<std::string>> {
      MESHFED_ASSIGN_OR_RETURN(const auto entries, store::AuditQueries(tx).list(0, 10000));
      std::vector<std::string> actions;
      for (const auto& e : entries) actions.push_back(e.action);
      return actions;
    }));
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Database> db_ = must(store::Database::open(dir_ / "m.db"));
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  std::set<std::string> configured_ = {"internal"};
  Peerings peerings_{*db_, clock_, "pci", [this] { return configured_; }};
  Bundle edge_;
  const Principal root_{"root", {Role::kAdmin}};
  const Principal rita_{"rita", {Role::kAdmin}};
  const Principal bob_{"bob", {Role::kApprover}};
};

TEST_F(PeeringsTest, APeerIsProposedByOneAdminAndApprovedByAnother) {
  const auto proposed = must(peerings_.propose(root_, proposal_of(edge_)));
  EXPECT_EQ(proposed.state, store::PeeringState::kProposed);
  EXPECT_EQ(proposed.bundle, canonical_text(edge_));
  EXPECT_EQ(proposed.proposed_by, "root");

  const auto own = peerings_.approve(root_, "edge", "looks right");
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(own.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(own.error().message.find("four-eyes"), std::string::npos) << own.error().message;
  EXPECT_EQ(peerings_.approve(bob_, "edge", "").error().code, ErrorCode::kPermissionDenied) << "admins only";

  const auto approved = must(peerings_.approve(rita_, "edge", "fingerprint compared by phone"));
  EXPECT_EQ(approved.state, store::PeeringState::kActive);
  EXPECT_EQ(approved.approved_by, "rita");
  EXPECT_EQ(approved.version, 2);
  EXPECT_EQ(peerings_.approve(root_, "edge", "").error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(audited(), (std::vector<std::string>{"peer.proposed", "peer.four_eyes_refused", "peer.approved"}));
  const auto all = must(peerings_.list());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state, store::PeeringState::kActive);
}

TEST_F(PeeringsTest, AProposalThatIsWrongChangesNothingAndItsRefusalIsAudited) {
  struct Case {
    std::string name;
    Proposal proposal;
    ErrorCode code;
    std::string field;
  };
  std::vector<Case> cases;
  auto add = [&](std::string name, const std::function<void(Proposal&)>& change, ErrorCode code, std::string field) {
    Proposal p = proposal_of(edge_);
    change(p);
    cases.push_back({std::move(name), std::move(p), code, std::move(field)});
  };
  add(
      "wrong fingerprint", [](Proposal& p) { p.fingerprint[0] = p.fingerprint[0] == 'a' ? 'b' : 'a'; },
      ErrorCode::kInvalidArgument, "fingerprint");
  add(
      "tampered bundle", [](Proposal& p) { p.bundle["source_cidrs"] = {"0.0.0.0/0"}; }, ErrorCode::kInvalidArgument,
      "fingerprint");
  add(
      "malformed bundle", [](Proposal& p) { p.bundle["peer_api"] = "ftp://x"; }, ErrorCode::kInvalidArgument,
      "bundle.peer_api");
  add(
      "this domain's own", [&](Proposal& p) { p = proposal_of(named("pci")); }, ErrorCode::kInvalidArgument,
      "bundle.domain");
  add(
      "configured already", [&](Proposal& p) { p = proposal_of(named("internal")); }, ErrorCode::kAlreadyExists,
      "bundle.domain");
  add(
      "no reason", [](Proposal& p) { p.reason = " "; }, ErrorCode::kInvalidArgument, "reason");
  add(
      "policy", [](Proposal& p) { p.import_policy = "always"; }, ErrorCode::kInvalidArgument, "import_policy");
  add(
      "max_exports", [](Proposal& p) { p.max_exports = 0; }, ErrorCode::kInvalidArgument, "max_exports");
  for (const auto& c : cases) {
    const auto refused = peerings_.propose(root_, c.proposal);
    ASSERT_FALSE(refused.ok()) << c.name;
    EXPECT_EQ(refused.error().code, c.code) << c.name << ": " << refused.error().message;
    bool named_field = false;
    for (const auto& f : refused.error().fields) named_field = named_field || f.field == c.field;
    EXPECT_TRUE(named_field) << c.name << ": " << refused.error().message;
  }
  EXPECT_TRUE(must(peerings_.list()).empty());
  EXPECT_EQ(audited(), std::vector<std::string>(cases.size(), "peer.proposal_refused"));
  EXPECT_EQ(peerings_.propose(bob_, proposal_of(edge_)).error().code, ErrorCode::kPermissionDenied);

  // A domain proposed once cannot be proposed again, even with its own valid bundle.
  ASSERT_TRUE(peerings_.propose(root_, proposal_of(edge_)).ok());
  EXPECT_EQ(peerings_.propose(rita_, proposal_of(edge_)).error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(must(peerings_.list()).size(), 1u);
}

TEST_F(PeeringsTest, NoMoreThanTheBoundOfPeersCanBeAdded) {
  for (size_t i = 0; i < Peerings::kMaxPeerings; ++i) {
    ASSERT_TRUE(peerings_.propose(root_, proposal_of(named("edge" + std::to_string(i)))).ok()) << i;
  }
  const auto over = peerings_.propose(root_, proposal_of(named("one-too-many")));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(must(peerings_.list()).size(), Peerings::kMaxPeerings);
}

TEST_F(PeeringsTest, APeerIsRemovedByAnAdminWithAReason) {
  ASSERT_TRUE(peerings_.propose(root_, proposal_of(edge_)).ok());
  EXPECT_EQ(peerings_.remove(root_, "edge", "").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(peerings_.remove(bob_, "edge", "gone").error().code, ErrorCode::kPermissionDenied);
  ASSERT_TRUE(peerings_.remove(root_, "edge", "the site closed").ok());
  EXPECT_TRUE(must(peerings_.list()).empty());
  EXPECT_EQ(peerings_.remove(root_, "edge", "again").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(audited(), (std::vector<std::string>{"peer.proposed", "peer.removed"}));
}

// An approved peer is configured as one from the file would be: the broker loads the file with
// the entries of its active peerings appended (their CA certificates written to files first).
TEST_F(PeeringsTest, AnActivePeerIsConfiguredLikeOneFromTheFile) {
  auto pci = testing::make_domain(dir_.path() / "pci", "pci", {"internal"});
  Proposal p = proposal_of(edge_);
  p.import_policy = "auto";
  p.max_exports = 40;
  ASSERT_TRUE(peerings_.propose(root_, p).ok());
  ASSERT_TRUE(peerings_.propose(root_, proposal_of(named("branch"))).ok());  // stays proposed
  ASSERT_TRUE(peerings_.approve(rita_, "edge", "").ok());
  Bundle shadow = named("internal");  // configured in the file too: the file wins
  ASSERT_TRUE(db_->transaction([&](store::Writer& tx) -> Status {
                   store::PeeringRecord r;
                   r.domain = "internal";
                   r.state = store::PeeringState::kActive;
                   r.bundle = canonical_text(shadow);
                   r.proposed_by = "root";
                   return store::PeeringRepository(tx).save(r);
                 })
                  .ok());

  const auto entries = must(peer_entries(must(peerings_.list()), dir_.path() / "state/peerings"));
  ASSERT_EQ(entries.size(), 2u) << "edge and internal; branch is only proposed";
  const auto cfg = must(config::load_config(pci.config_file, entries));
  ASSERT_EQ(cfg.peers.size(), 2u);
  const auto* edge = cfg.find_peer("edge");
  ASSERT_NE(edge, nullptr);
  EXPECT_EQ(edge->url, "https://broker.edge.example:9443");
  EXPECT_EQ(edge->import_policy, config::ImportPolicy::kAuto);
  EXPECT_EQ(edge->max_exports, 40);
  EXPECT_EQ(must(pki::certificates_pem(edge->ca_file)), edge_.ca_pem);
  EXPECT_EQ(cfg.find_peer("internal")->ca_file, pci.dir / "peers/internal/ca.pem") << "the file's entry";
  EXPECT_EQ(cfg.find_peer("branch"), nullptr);
  EXPECT_TRUE(edge->added_through_api);
  EXPECT_FALSE(cfg.find_peer("internal")->added_through_api);

  // A peering change re-applies the file as it was read: an edit nobody reloaded stays out.
  pci.config["peers"] = nlohmann::json::array();
  pci.save_config();
  const auto again = must(config::with_api_peers(cfg, {}));
  EXPECT_EQ(again.peers.size(), 1u) << "internal, from the file as read; edge no longer added";
  EXPECT_NE(again.find_peer("internal"), nullptr);
  EXPECT_EQ(again.file, cfg.file);

  // Removed, its CA file goes with it: the folder does not grow with peers that came and went.
  ASSERT_TRUE(peerings_.remove(root_, "edge", "the site closed").ok());
  ASSERT_EQ(must(peer_entries(must(peerings_.list()), dir_.path() / "state/peerings")).size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "state/peerings/edge.pem"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "state/peerings/internal.pem"));
}

// The config the broker runs must take the peer (its CIDRs and egress ports still add up): it
// is asked inside the approving transaction, and a refusal leaves the peer proposed, audited.
TEST_F(PeeringsTest, AnApprovalTheRunningConfigCannotTakeIsRefusedAndChangesNothing) {
  std::vector<std::vector<store::PeeringRecord>> asked;
  int changes = 0;
  bool fits = false;
  Peerings checked(
      *db_, clock_, "pci", [this] { return configured_; },
      [&](const std::vector<store::PeeringRecord>& after) -> Status {
        asked.push_back(after);
        if (fits) return {};
        return make_error(ErrorCode::kFailedPrecondition, "the config cannot take this peer: egress ports run out");
      });
  checked.set_change_listener([&] { ++changes; });
  must(checked.propose(root_, proposal_of(edge_)));
  EXPECT_EQ(changes, 0) << "a proposal changes no peer in force";

  const auto refused = checked.approve(rita_, "edge", "");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("egress ports"), std::string::npos) << refused.error().message;
  ASSERT_EQ(asked.size(), 1u);
  ASSERT_EQ(asked[0].size(), 1u);
  EXPECT_EQ(asked[0][0].state, store::PeeringState::kActive) << "asked about the peerings as they would be";
  EXPECT_EQ(must(checked.list())[0].state, store::PeeringState::kProposed);
  EXPECT_EQ(changes, 0);

  fits = true;
  must(checked.approve(rita_, "edge", ""));
  EXPECT_EQ(changes, 1);
  must(checked.remove(root_, "edge", "the site closed"));
  EXPECT_EQ(changes, 2);
  EXPECT_EQ(audited(),
            (std::vector<std::string>{"peer.proposed", "peer.approval_refused", "peer.approved", "peer.removed"}));
}

// A peer's CA rollover: its new bundle is proposed by one admin, checked as a proposal is, and
// replaces the bundle in force only when another admin approves it.
TEST_F(PeeringsTest, ANewBundleOfAnActivePeerIsProposedAndApprovedWithFourEyes) {
  must(peerings_.propose(root_, proposal_of(edge_)));
  EXPECT_EQ(peerings_.propose_bundle(root_, "edge", to_json(edge_), fingerprint(edge_), "rollover").error().code,
            ErrorCode::kFailedPrecondition)
      << "only an active peer gets a new bundle";
  must(peerings_.approve(rita_, "edge", ""));
  Bundle next = edge_;
  next.ca_pem.push_back(named("other").ca_pem[0]);  // a second CA certificate: the next one

  const auto other_domain =
      peerings_.propose_bundle(root_, "edge", to_json(named("other")), fingerprint(named("other")), "rollover");
  ASSERT_FALSE(other_domain.ok());
  EXPECT_EQ(other_domain.error().fields.at(0).field, "bundle.domain");
  Bundle renamed = next;
  renamed.trust_domain = "edge.example";
  const auto other_identity =
      peerings_.propose_bundle(root_, "edge", to_json(renamed), fingerprint(renamed), "rollover");
  ASSERT_FALSE(other_identity.ok());
  EXPECT_NE(other_identity.error().message.find("trust domain"), std::string::npos) << other_identity.error().message;
  EXPECT_EQ(
      peerings_.propose_bundle(root_, "edge", to_json(next), fingerprint(edge_), "rollover").error().fields.at(0).field,
      "fingerprint");

  const auto proposed = must(peerings_.propose_bundle(root_, "edge", to_json(next), fingerprint(next), "CA rollover"));
  EXPECT_EQ(proposed.bundle, canonical_text(edge_)) << "the bundle in force stays until approved";
  EXPECT_EQ(proposed.next_bundle, canonical_text(next));
  EXPECT_EQ(peerings_.approve(root_, "edge", "").error().code, ErrorCode::kPermissionDenied) << "four-eyes";
  const auto approved = must(peerings_.approve(rita_, "edge", "compared by phone"));
  EXPECT_EQ(approved.bundle, canonical_text(next));
  EXPECT_FALSE(approved.next_bundle);
  EXPECT_EQ(peerings_.approve(rita_, "edge", "").error().code, ErrorCode::kFailedPrecondition) << "nothing to approve";
  const auto actions = audited();
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "peer.bundle_refused"), 4);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "peer.bundle_proposed"), 1);
  EXPECT_EQ(actions.back(), "peer.rolled_over");
}

}  // namespace
}  // namespace meshfed::peering
