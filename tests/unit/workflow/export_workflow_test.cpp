#include "meshfed/workflow/export_workflow.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include "meshfed/core/text.hpp"

#include "support/test_support.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::workflow {
namespace {

using namespace std::chrono_literals;
using store::ExportState;

Principal person(const std::string& name, std::set<Role> roles) { return Principal{name, std::move(roles)}; }

class ExportWorkflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::open(dir_ / "meshfed.db");
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
    WorkflowSettings s;
    s.domain = "pci";
    s.trust_domain = "pci.example";
    s.peers = {"internal", "dmz"};
    s.default_ttl_s = 3600;
    s.max_ttl_s = 7200;
    s.pending_expiry_s = 600;
    wf_ = std::make_unique<ExportWorkflow>(*db_, clock_, adapter_, s);
  }

  ExportRequest payments(std::vector<std::string> peers = {"internal"}) {
    ExportRequest r;
    r.mesh = "default";
    r.service = "payments-api";
    r.port = 8443;
    r.peers = std::move(peers);
    r.reason = "checkout in internal";
    return r;
  }

  store::ExportRecord requested(std::vector<std::string> peers = {"internal"}) {
    auto e = wf_->request(alice_, payments(std::move(peers)));
    EXPECT_TRUE(e.ok()) << e.error().message;
    return *e;
  }

  store::ExportRecord approved() {
    auto e = requested();
    auto a = wf_->approve(bob_, e.id, {"ok", {}, {}});
    EXPECT_TRUE(a.ok()) << a.error().message;
    return *a;
  }

  int64_t audit_count() { return wf_->audit_head()->first; }

  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  testing::FakeAdapter adapter_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<ExportWorkflow> wf_;
  Principal alice_ = person("alice", {Role::kRequester});
  Principal dave_ = person("dave", {Role::kRequester});
  Principal bob_ = person("bob", {Role::kApprover});
  Principal carol_ = person("carol", {Role::kApprover});
  Principal victor_ = person("victor", {Role::kViewer});
  Principal root_ = person("root", {Role::kAdmin});
};

// L7 rules are part of the request for an http, http2 or grpc port, kept as one canonical text
// with the export and named in its audit entries; a port of another protocol cannot carry them.
TEST_F(ExportWorkflowTest, L7RulesAreRequestedWithAnHttpPortAndRefusedOnATcpPort) {
  const auto rules = policy::parse_l7(
      nlohmann::json::parse(R"({"http": [{"path": {"prefix": "/metrics/"}, "methods": ["GET", "HEAD"]}]})"));
  ASSERT_TRUE(rules.ok()) << rules.error().message;
  ExportRequest r;
  r.mesh = "default";
  r.service = "ledger";
  r.port = 9187;
  r.peers = {"internal"};
  r.l7 = *rules;
  r.reason = "internal reads the ledger's metrics page";
  const auto e = wf_->request(alice_, r);
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_TRUE(e->l7);
  EXPECT_EQ(*e->l7, R"({"http":[{"methods":["GET","HEAD"],"path":{"prefix":"/metrics/"}}]})");
  const auto approved = wf_->approve(bob_, e->id, {"ok", {}, {}});
  ASSERT_TRUE(approved.ok());
  EXPECT_EQ(approved->l7, e->l7) << "approved as requested";
  const auto audit = wf_->audit_page(0, 100);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->first.back().details["l7"], nlohmann::json::parse(*e->l7)) << "the approval names the rules";

  r.port = 5432;  // tcp
  r.alias = "ledger-db";
  const auto tcp = wf_->request(alice_, r);
  ASSERT_FALSE(tcp.ok());
  EXPECT_EQ(tcp.error().fields.at(0).field, "l7");
  EXPECT_NE(tcp.error().fields.at(0).message.find("plaintext HTTP/1.1 or h2c"), std::string::npos);
  r.port = 9187;
  r.l7 = policy::parse_l7(nlohmann::json::parse(R"({"grpc": ["ledger.v1.Rows/*"]})")).value();
  EXPECT_EQ(wf_->request(alice_, r).error().fields.at(0).field, "l7") << "grpc rules need a grpc port";
}

TEST_F(ExportWorkflowTest, ChangingAnExportsL7RulesIsANewApprovalByAnotherApprover) {
  auto rules = [](const char* json) { return policy::parse_l7(nlohmann::json::parse(json)).value(); };
  ExportRequest r;
  r.mesh = "default";
  r.service = "ledger";
  r.port = 9187;
  r.peers = {"internal"};
  r.l7 = rules(R"({"http": [{"methods": ["GET"], "path": {"prefix": "/v1/"}}]})");
  r.reason = "rates";
  const auto e = wf_->request(alice_, r);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(wf_->propose_l7(alice_, e->id, *r.l7, {}).error().code, ErrorCode::kFailedPrecondition)
      << "pending: the request itself is what gets approved";
  ASSERT_TRUE(wf_->approve(bob_, e->id, {}).ok());

  const auto wider = rules(R"({"http": [{"methods": ["GET", "POST"], "path": {"prefix": "/v1/"}}]})");
  EXPECT_EQ(wf_->propose_l7(victor_, e->id, wider, {}).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(wf_->propose_l7(alice_, e->id, *r.l7, {}).error().code, ErrorCode::kInvalidArgument) << "already in force";
  EXPECT_EQ(wf_->propose_l7(alice_, e->id, rules(R"({"grpc": ["a.B/*"]})"), {}).error().fields.at(0).field, "l7");
  auto proposed = wf_->propose_l7(carol_, e->id, wider, {"SEC-7", {}, {}});
  ASSERT_TRUE(proposed.ok()) << proposed.error().message;
  EXPECT_EQ(proposed->l7, e->l7) << "the rules in force stay";
  EXPECT_EQ(proposed->l7_change, R"({"http":[{"methods":["GET","POST"],"path":{"prefix":"/v1/"}}]})");
  EXPECT_EQ(proposed->l7_change_by, "carol");
  EXPECT_EQ(wf_->propose_l7(alice_, e->id, wider, {}).error().code, ErrorCode::kFailedPrecondition)
      << "one change waits at a time";

  // Four-eyes: whoever proposed the rules cannot approve them, and the attempt is on record.
  auto self = wf_->decide(carol_, e->id, {}, ExportAction::kApproveL7);
  EXPECT_EQ(self.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(self.error().message.find("four-eyes"), std::string::npos);
  EXPECT_EQ(wf_->audit_page(0, 100)->first.back().action, "export.four_eyes_refused");
  EXPECT_EQ(wf_->decide(alice_, e->id, {}, ExportAction::kApproveL7).error().code, ErrorCode::kPermissionDenied);
  const auto approved = wf_->decide(bob_, e->id, {"ok", {}, proposed->version}, ExportAction::kApproveL7);
  ASSERT_TRUE(approved.ok()) << approved.error().message;
  EXPECT_EQ(approved->l7, proposed->l7_change);
  EXPECT_FALSE(approved->l7_change);
  EXPECT_EQ(approved->version, proposed->version + 1);
  const auto entry = wf_->audit_page(0, 100)->first.back();
  EXPECT_EQ(entry.action, "export.l7_approved");
  EXPECT_EQ(entry.details["l7"]["http"][0]["methods"], nlohmann::json({"GET", "POST"}));
  EXPECT_EQ(approved->history.back().action, "l7_approved");
  EXPECT_EQ(wf_->decide(bob_, e->id, {}, ExportAction::kApproveL7).error().code, ErrorCode::kFailedPrecondition)
      << "nothing waits any more";

  // Turned down: by an approver, or withdrawn by its proposer; the rules in force stay.
  ASSERT_TRUE(wf_->propose_l7(alice_, e->id, *r.l7, {}).ok());
  EXPECT_EQ(wf_->decide(dave_, e->id, {}, ExportAction::kRejectL7).error().code, ErrorCode::kPermissionDenied);
  const auto withdrawn = wf_->decide(alice_, e->id, {}, ExportAction::kRejectL7);
  ASSERT_TRUE(withdrawn.ok()) << withdrawn.error().message;
  EXPECT_EQ(withdrawn->l7, approved->l7);
  EXPECT_FALSE(withdrawn->l7_change);
  EXPECT_EQ(wf_->get(e->id)->history.back().action, "l7_rejected");
}

TEST_F(ExportWorkflowTest, RequestCreatesPendingExportWithSniAndHistory) {
  auto e = requested();
  EXPECT_EQ(e.state, ExportState::kPending);
  EXPECT_EQ(e.version, 1);
  EXPECT_EQ(e.protocol, "tcp");
  EXPECT_EQ(e.alias, "payments-api");
  EXPECT_EQ(e.sni, e.id + ".pci.example.meshfed");
  EXPECT_EQ(e.requested_by, "alice");
  EXPECT_EQ(e.pending_expires_at_ms, to_unix_ms(clock_.now()) + 600'000);
  ASSERT_EQ(e.history.size(), 1u);
  EXPECT_EQ(e.history[0].action, "requested");
  EXPECT_EQ(audit_count(), 1);
}

TEST_F(ExportWorkflowTest, ExportIdsAreDnsSafeAndNeverReused) {
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    auto e = requested();
    EXPECT_TRUE(is_rfc1035_label(e.id)) << e.id;  // lowercase, digits, '-', at most 63
    EXPECT_TRUE(ids.insert(e.id).second) << "reused " << e.id;
    ASSERT_TRUE(wf_->cancel(alice_, e.id, {}).ok());
  }
}

TEST_F(ExportWorkflowTest, ApproverApprovesAndExpiryCountsFromApproval) {
  auto e = requested();
  clock_.advance(5min);
  auto a = wf_->approve(bob_, e.id, {"looks fine", {}, {}});
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->state, ExportState::kApproved);
  EXPECT_EQ(a->decided_by, "bob");
  EXPECT_EQ(a->approved_at_ms, to_unix_ms(clock_.now()));
  EXPECT_EQ(a->expires_at_ms, to_unix_ms(clock_.now()) + 3600'000);
  EXPECT_EQ(a->version, 2);
  ASSERT_EQ(a->history.size(), 2u);
  EXPECT_EQ(a->history[1].comment, "looks fine");
  EXPECT_EQ(a->history[1].from, ExportState::kPending);
  // The answer is the record as stored (it is not read back).
  const auto stored = wf_->get(e.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->version, a->version);
  EXPECT_EQ(stored->expires_at_ms, a->expires_at_ms);
  EXPECT_EQ(stored->peers, a->peers);
  ASSERT_EQ(stored->history.size(), a->history.size());
  EXPECT_EQ(stored->history[1].time_ms, a->history[1].time_ms);
  EXPECT_EQ(stored->history[1].audit_seq, a->history[1].audit_seq);
  EXPECT_EQ(stored->history[1].actor, a->history[1].actor);
}

TEST_F(ExportWorkflowTest, RequesterCannotApproveOwnExport) {
  const Principal both = person("erin", {Role::kRequester, Role::kApprover});
  auto e = wf_->request(both, payments());
  ASSERT_TRUE(e.ok());
  auto a = wf_->approve(both, e->id, {});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(a.error().message.find("four-eyes"), std::string::npos) << a.error().message;
  EXPECT_EQ(wf_->get(e->id)->state, ExportState::kPending);
  // The attempt itself is on the record, and the chain still verifies.
  const auto page = wf_->audit_page(0, 100);
  ASSERT_TRUE(page.ok());
  const auto& last = page->first.back();
  EXPECT_EQ(last.action, "export.four_eyes_refused");
  EXPECT_EQ(last.actor, "erin");
  EXPECT_EQ(last.object, "export/" + e->id);
  EXPECT_TRUE(wf_->verify_audit()->report.ok);
}

TEST_F(ExportWorkflowTest, AdminWhoRequestedCannotApproveEither) {
  auto e = wf_->request(root_, payments());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(wf_->approve(root_, e->id, {}).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(wf_->extend(root_, e->id, {}).error().code, ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(wf_->approve(bob_, e->id, {}).ok());
  EXPECT_EQ(wf_->extend(root_, e->id, {}).error().code, ErrorCode::kPermissionDenied);
}

TEST_F(ExportWorkflowTest, RolesLimitWhoDoesWhat) {
  EXPECT_EQ(wf_->request(victor_, payments()).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(wf_->request(bob_, payments()).error().code, ErrorCode::kPermissionDenied);
  auto e = requested();
  EXPECT_EQ(wf_->approve(victor_, e.id, {}).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(wf_->approve(dave_, e.id, {}).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(wf_->reject(dave_, e.id, {}).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(wf_->cancel(bob_, e.id, {}).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(wf_->cancel(dave_, e.id, {}).error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(wf_->approve(root_, e.id, {}).ok());
}

TEST_F(ExportWorkflowTest, RejectEndsPendingExport) {
  auto e = requested();
  auto r = wf_->reject(bob_, e.id, {"not needed", {}, {}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, ExportState::kRejected);
  auto again = wf_->approve(carol_, e.id, {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(again.error().message.find("rejected"), std::string::npos);
}

TEST_F(ExportWorkflowTest, OnlyItsRequesterCancelsAPendingExport) {
  auto e = requested();
  EXPECT_EQ(wf_->cancel(dave_, e.id, {}).error().code, ErrorCode::kPermissionDenied);
  auto c = wf_->cancel(alice_, e.id, {"changed my mind", {}, {}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, ExportState::kCancelled);
  auto a = approved();
  EXPECT_EQ(wf_->cancel(alice_, a.id, {}).error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(ExportWorkflowTest, RequesterRevokesOwnExportButNotOthers) {
  auto mine = approved();
  auto theirs_req = wf_->request(dave_, payments({"dmz"}));
  ASSERT_TRUE(theirs_req.ok());
  ASSERT_TRUE(wf_->approve(bob_, theirs_req->id, {}).ok());
  EXPECT_EQ(wf_->revoke(alice_, theirs_req->id, {}).error().code, ErrorCode::kPermissionDenied);
  auto r = wf_->revoke(alice_, mine.id, {"no longer needed", {}, {}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, ExportState::kRevoked);
  EXPECT_TRUE(wf_->revoke(carol_, theirs_req->id, {}).ok());
}

TEST_F(ExportWorkflowTest, RevokeNeedsApprovedState) {
  auto e = requested();
  auto r = wf_->revoke(bob_, e.id, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("pending"), std::string::npos);
}

TEST_F(ExportWorkflowTest, ExtendKeepsIdAndSniAndMovesExpiry) {
  auto a = approved();
  clock_.advance(30min);
  auto x = wf_->extend(carol_, a.id, {"another quarter", 7000, {}});
  ASSERT_TRUE(x.ok()) << x.error().message;
  EXPECT_EQ(x->id, a.id);
  EXPECT_EQ(x->sni, a.sni);
  EXPECT_EQ(x->state, ExportState::kApproved);
  EXPECT_EQ(x->expires_at_ms, to_unix_ms(clock_.now()) + 7000'000);
  EXPECT_EQ(x->approved_at_ms, a.approved_at_ms);
}

TEST_F(ExportWorkflowTest, TtlIsBoundedByMaxTtl) {
  auto r = payments();
  r.ttl_s = 7201;
  auto e = wf_->request(alice_, r);
  ASSERT_FALSE(e.ok());
  ASSERT_EQ(e.error().fields.size(), 1u);
  EXPECT_EQ(e.error().fields[0].field, "ttl_s");
  auto a = approved();
  auto x = wf_->extend(carol_, a.id, {"", 99999, {}});
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(x.error().fields.at(0).field, "ttl_s");
}

TEST_F(ExportWorkflowTest, IfMatchRejectsStaleVersion) {
  auto e = requested();
  auto stale = wf_->approve(bob_, e.id, {"", {}, 7});
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kVersionMismatch);
  EXPECT_EQ(wf_->get(e.id)->state, ExportState::kPending);
  EXPECT_TRUE(wf_->approve(bob_, e.id, {"", {}, 1}).ok());
}

TEST_F(ExportWorkflowTest, PendingRequestExpiresAfterPendingExpiry) {
  auto e = requested();
  clock_.advance(599s);
  EXPECT_EQ(*wf_->expire_due(), 0);
  clock_.advance(1s);
  EXPECT_EQ(*wf_->expire_due(), 1);
  auto got = wf_->get(e.id);
  EXPECT_EQ(got->state, ExportState::kExpired);
  EXPECT_EQ(got->history.back().actor, kSystemActor);
  EXPECT_EQ(got->history.back().from, ExportState::kPending);
}

TEST_F(ExportWorkflowTest, ApprovalExpiresAtExpiresAt) {
  auto a = approved();
  EXPECT_EQ(wf_->next_deadline()->value(), from_unix_ms(*a.expires_at_ms));
  clock_.advance(3600s);
  EXPECT_EQ(*wf_->expire_due(), 1);
  EXPECT_EQ(wf_->get(a.id)->state, ExportState::kExpired);
  EXPECT_FALSE(wf_->next_deadline()->has_value());
}

TEST_F(ExportWorkflowTest, ValidationNamesEveryBadField) {
  ExportRequest r;
  r.mesh = "default";
  r.service = "payments-api";
  r.port = 70000;
  r.peers = {"internal", "nowhere", "internal"};
  r.alias = "Bad_Alias";
  r.metrics = {"envoy_cluster_upstream_rq_total", "bad metric", "envoy_*"};
  r.reason = "  ";
  const int64_t before = audit_count();
  auto e = wf_->request(alice_, r);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
  std::set<std::string> fields;
  for (const auto& f : e.error().fields) fields.insert(f.field);
  EXPECT_EQ(fields, (std::set<std::string>{"port", "peers[1]", "peers[2]", "alias", "metrics[1]", "reason"}));
  EXPECT_EQ(audit_count(), before);
}

TEST_F(ExportWorkflowTest, ServicePortAndZoneMustBeInInventory) {
  auto r = payments();
  r.service = "nope";
  EXPECT_EQ(wf_->request(alice_, r).error().fields.at(0).field, "service");
  r = payments();
  r.port = 9999;
  EXPECT_EQ(wf_->request(alice_, r).error().fields.at(0).field, "port");
  r = payments();
  r.service = "ledger";
  r.port = 5432;
  r.zone = "us-1";
  EXPECT_EQ(wf_->request(alice_, r).error().fields.at(0).field, "service");
  r.zone = "eu-1";
  auto ok = wf_->request(alice_, r);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->zone, "eu-1");
}

TEST_F(ExportWorkflowTest, AliasIsUniqueAmongLiveExportsToTheSamePeer) {
  auto first = requested({"internal"});
  auto clash = wf_->request(dave_, payments({"dmz", "internal"}));
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(clash.error().fields.at(0).field, "alias");
  EXPECT_TRUE(wf_->request(dave_, payments({"dmz"})).ok());  // another peer: fine
  ASSERT_TRUE(wf_->cancel(alice_, first.id, {}).ok());
  EXPECT_TRUE(wf_->request(dave_, payments({"internal"})).ok());  // freed once not live
}

TEST_F(ExportWorkflowTest, TargetMissingWhenServiceLeavesInventory) {
  auto a = approved();
  EXPECT_FALSE(wf_->target_missing(a));
  EXPECT_EQ(wf_->count_target_missing().value(), 0);
  adapter_.set(controlplane::Inventory{});
  EXPECT_TRUE(wf_->target_missing(a));
  EXPECT_EQ(wf_->count_target_missing().value(), 1);
  EXPECT_EQ(wf_->get(a.id)->state, ExportState::kApproved);  // peers don't flap
}

TEST_F(ExportWorkflowTest, ListPaginatesWithCursorAndFiltersByState) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = payments();
    r.alias = "pay-" + std::to_string(i);
    ids.push_back(wf_->request(alice_, r)->id);
  }
  ASSERT_TRUE(wf_->approve(bob_, ids[1], {}).ok());
  std::vector<std::string> seen;
  std::string after;
  int pages = 0;
  for (;;) {
    auto page = wf_->list(std::nullopt, after, 2);
    ASSERT_TRUE(page.ok());
    ++pages;
    for (const auto& e : page->items) seen.push_back(e.id);
    if (!page->next) break;
    after = *page->next;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, ids);
  auto approved_only = wf_->list(ExportState::kApproved, "", 100);
  ASSERT_EQ(approved_only->items.size(), 1u);
  EXPECT_EQ(approved_only->items[0].id, ids[1]);
  EXPECT_FALSE(wf_->list(std::nullopt, "garbage", 10).ok());
}

TEST_F(ExportWorkflowTest, EveryTransitionIsAuditedInOrder) {
  auto a = approved();
  ASSERT_TRUE(wf_->extend(carol_, a.id, {}).ok());
  ASSERT_TRUE(wf_->revoke(bob_, a.id, {"incident", {}, {}}).ok());
  auto page = wf_->audit_page(0, 100);
  ASSERT_TRUE(page.ok());
  std::vector<std::string> actions;
  for (const auto& e : page->first) {
    actions.push_back(e.action);
    EXPECT_EQ(e.object, "export/" + a.id);
  }
  EXPECT_EQ(actions,
            (std::vector<std::string>{"export.requested", "export.approved", "export.extended", "export.revoked"}));
  EXPECT_EQ(page->first.back().details["comment"], "incident");
  EXPECT_FALSE(audit::verify_chain(page->first).has_value());
}

TEST_F(ExportWorkflowTest, NotFoundForUnknownExport) {
  EXPECT_EQ(wf_->approve(bob_, "nope-12345678", {}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(wf_->get("nope-12345678").error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace meshfed::workflow
