#include "meshfed/federation/catalog.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "meshfed/core/text.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "support/test_support.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::federation {
namespace {

using namespace std::chrono_literals;
using workflow::Principal;
using workflow::Role;

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(store::Database::open(dir_ / "m.db")).value();
    wf_ = std::make_unique<workflow::ExportWorkflow>(
        *db_, clock_, adapter_, workflow::WorkflowSettings{"pci", "pci", {"internal", "dmz"}, 3600, 7200, 600});
    wf_->set_catalog_listener(
        [this](const std::set<std::string>& peers, const std::set<std::string>&) { announced_.push_back(peers); });
    catalog_ = std::make_unique<Catalog>(*db_, *db_, clock_);
  }

  std::string approved(std::vector<std::string> peers, const std::string& alias) {
    workflow::ExportRequest r{"default", "payments-api", 8443, "", std::move(peers), alias, {}, {}, false, "why", {}};
    auto e = wf_->request(alice_, r);
    EXPECT_TRUE(e.ok()) << e.error().message;
    EXPECT_TRUE(wf_->approve(bob_, e->id, {}).ok());
    return e->id;
  }

  std::vector<std::string> ids(const CatalogView& v) {
    std::vector<std::string> out;
    for (const auto& e : v.exports) out.push_back(e.id);
    return out;
  }

  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  testing::FakeAdapter adapter_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<workflow::ExportWorkflow> wf_;
  std::unique_ptr<Catalog> catalog_;
  std::vector<std::set<std::string>> announced_;
  Principal alice_{"alice", {Role::kRequester}};
  Principal bob_{"bob", {Role::kApprover}};
  Principal carol_{"carol", {Role::kApprover}};
};

TEST_F(CatalogTest, PeerSeesOnlyApprovedExportsScopedToIt) {
  const std::string for_internal = approved({"internal"}, "a");
  const std::string for_both = approved({"internal", "dmz"}, "b");
  workflow::ExportRequest pending{"default", "payments-api", 8443, "", {"internal"}, "c", {}, {}, false, "why", {}};
  ASSERT_TRUE(wf_->request(alice_, pending).ok());
  auto internal = catalog_->view("internal", 0);
  ASSERT_TRUE(internal.ok());
  EXPECT_TRUE(internal->full);
  EXPECT_EQ(ids(*internal), (std::vector<std::string>{for_internal, for_both}));
  EXPECT_EQ(ids(*catalog_->view("dmz", 0)), std::vector<std::string>{for_both});
  EXPECT_TRUE(catalog_->view("elsewhere", 0)->exports.empty());
  EXPECT_EQ(internal->revision, 3);  // revisions start at 1
}

TEST_F(CatalogTest, DeltaCarriesUpsertsAndRemovalsOfTheCallersViewOnly) {
  const std::string a = approved({"internal"}, "a");
  const int64_t since = catalog_->view("internal", 0)->revision;
  const std::string b = approved({"internal"}, "b");
  const std::string d = approved({"dmz"}, "d");
  ASSERT_TRUE(wf_->revoke(bob_, a, {}).ok());
  auto delta = catalog_->view("internal", since);
  ASSERT_TRUE(delta.ok());
  EXPECT_FALSE(delta->full);
  EXPECT_EQ(ids(*delta), std::vector<std::string>{b});
  EXPECT_EQ(delta->removals, std::vector<std::string>{a});
  // The dmz-only export is neither an upsert nor a removal for internal: its id never leaks.
  auto dmz_delta = catalog_->view("dmz", since);
  EXPECT_EQ(ids(*dmz_delta), std::vector<std::string>{d});
  EXPECT_TRUE(dmz_delta->removals.empty());
}

TEST_F(CatalogTest, NothingNewIsUnchanged) {
  approved({"internal"}, "a");
  const int64_t rev = catalog_->view("internal", 0)->revision;
  EXPECT_TRUE(catalog_->view("internal", rev)->unchanged());
  approved({"dmz"}, "d");
  EXPECT_TRUE(catalog_->view("internal", rev)->unchanged());  // another peer's change
  EXPECT_FALSE(catalog_->view("dmz", rev)->unchanged());
}

TEST_F(CatalogTest, SinceOlderThanTheLogOrNewerThanUsGetsFullSnapshot) {
  approved({"internal"}, "a");
  approved({"internal"}, "b");
  approved({"internal"}, "c");
  ASSERT_TRUE(catalog_->prune(1).ok());
  // Revisions 2, 3, 4; keeping one change moves the floor to 3.
  EXPECT_TRUE(catalog_->view("internal", 2)->full);   // before the floor
  EXPECT_FALSE(catalog_->view("internal", 3)->full);  // at the floor: a delta
  EXPECT_TRUE(catalog_->view("internal", 99)->full);  // a restored store is behind the peer
}

TEST_F(CatalogTest, ExpiryRemovesAndAnnounces) {
  const std::string a = approved({"internal"}, "a");
  const int64_t rev = catalog_->view("internal", 0)->revision;
  announced_.clear();
  clock_.advance(3600s);
  EXPECT_TRUE(catalog_->view("internal", 0)->exports.empty());  // hidden already at expires_at
  ASSERT_EQ(*wf_->expire_due(), 1);
  EXPECT_EQ(catalog_->view("internal", rev)->removals, std::vector<std::string>{a});
  ASSERT_EQ(announced_.size(), 1u);
  EXPECT_EQ(announced_[0], std::set<std::string>{"internal"});
}

TEST_F(CatalogTest, PendingChangesAreNotCatalogChanges) {
  workflow::ExportRequest r{"default", "payments-api", 8443, "", {"internal"}, "p", {}, {}, false, "why", {}};
  auto e = wf_->request(alice_, r);
  ASSERT_TRUE(wf_->reject(bob_, e->id, {}).ok());
  EXPECT_EQ(catalog_->view("internal", 0)->revision, 1);
  EXPECT_TRUE(announced_.empty());
}

TEST_F(CatalogTest, AnApprovedChangeOfL7RulesIsACatalogChangeAndItsProposalIsNot) {
  workflow::ExportRequest r{"default", "ledger", 9187, "", {"internal"}, "ledger", {}, {}, false, "why", {}};
  r.l7 =
      policy::parse_l7(nlohmann::json::parse(R"({"http": [{"methods": ["GET"], "path": {"exact": "/a"}}]})")).value();
  auto e = wf_->request(alice_, r);
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_TRUE(wf_->approve(bob_, e->id, {}).ok());
  const int64_t at_approval = catalog_->view("internal", 0)->revision;
  announced_.clear();
  const auto b =
      policy::parse_l7(nlohmann::json::parse(R"({"http": [{"methods": ["GET"], "path": {"exact": "/b"}}]})")).value();
  ASSERT_TRUE(wf_->propose_l7(alice_, e->id, b, {}).ok());
  EXPECT_EQ(catalog_->view("internal", 0)->revision, at_approval) << "proposed: peers see nothing new";
  EXPECT_TRUE(announced_.empty());
  ASSERT_TRUE(wf_->decide(carol_, e->id, {}, workflow::ExportAction::kApproveL7).ok());
  const auto view = catalog_->view("internal", at_approval);
  EXPECT_GT(view->revision, at_approval);
  ASSERT_EQ(view->exports.size(), 1u);
  EXPECT_EQ(view->exports[0].l7, R"({"http":[{"methods":["GET"],"path":{"exact":"/b"}}]})");
  EXPECT_EQ(announced_.size(), 1u);
}

// A full answer is rendered once per revision and peer: the same bytes until the catalog moves,
// the ingress address changes or its first export expires; what the caller cannot see never
// enters it.
TEST_F(CatalogTest, AFullAnswerIsKeptUntilTheCatalogMovesOrAnExportExpires) {
  const std::string a = approved({"internal"}, "a");
  const IngressAddress ingress{"10.0.0.1", 15443};
  auto first = catalog_->full_answer("internal", "pci", ingress);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_NE(first->find(a), std::string::npos);
  EXPECT_EQ(*catalog_->full_answer("internal", "pci", ingress), *first);
  EXPECT_EQ(catalog_->full_answer("dmz", "pci", ingress)->find(a), std::string::npos);  // not scoped to dmz
  // Moved on another path (no call of ours in between): a new approval is in the next answer.
  const std::string b = approved({"internal"}, "b");
  EXPECT_NE(catalog_->full_answer("internal", "pci", ingress)->find(b), std::string::npos);
  EXPECT_NE(catalog_->full_answer("internal", "pci", {"10.0.0.2", 15443})->find("10.0.0.2"), std::string::npos);
  // A reload that removes a peer takes its kept answer with it.
  EXPECT_EQ(catalog_->kept_answers(), 2u);
  catalog_->keep_answers_only_for({"dmz"});
  EXPECT_EQ(catalog_->kept_answers(), 1u);
  EXPECT_NE(catalog_->full_answer("internal", "pci", ingress)->find(b), std::string::npos);
  // Past the first expiry (3600 s TTL), before any sweep has recorded it: no longer listed.
  clock_.advance(3601s);
  const auto later = catalog_->full_answer("internal", "pci", ingress);
  EXPECT_EQ(later->find(a), std::string::npos);
  EXPECT_EQ(later->find(b), std::string::npos);
}

// The quick path asks for the kept answer at the revision it read: a reader whose snapshot is
// older than the kept answer leaves it for the others, a newer one drops it.
TEST_F(CatalogTest, AKeptAnswerIsGivenAtItsRevisionAndDroppedOnlyOnceItIsOlder) {
  approved({"internal"}, "a");
  const IngressAddress ingress{"10.0.0.1", 15443};
  const auto built = catalog_->full_answer("internal", "pci", ingress);
  ASSERT_TRUE(built.ok());
  const int64_t revision = catalog_->glance("internal")->revision;
  EXPECT_EQ(catalog_->kept_answer("internal", revision, "pci", ingress), *built);
  EXPECT_FALSE(catalog_->kept_answer("internal", revision - 1, "pci", ingress));
  EXPECT_EQ(catalog_->kept_answers(), 1u);  // an older reader leaves it
  EXPECT_FALSE(catalog_->kept_answer("internal", revision, "pci", {"10.0.0.2", 15443}));
  EXPECT_EQ(catalog_->kept_answers(), 0u);  // kept for another ingress address: dropped
  ASSERT_TRUE(catalog_->full_answer("internal", "pci", ingress).ok());
  EXPECT_FALSE(catalog_->kept_answer("internal", revision + 1, "pci", ingress));
  EXPECT_EQ(catalog_->kept_answers(), 0u);  // the catalog moved on: dropped
}

TEST_F(CatalogTest, JsonFollowsThePeerApiContract) {
  approved({"internal"}, "a");
  auto v = catalog_->view("internal", 0);
  auto j = nlohmann::json::parse(catalog_text(*v, "pci", {"ingress.pci.example", 15443}));
  EXPECT_EQ(j["api_version"], "v1");
  EXPECT_EQ(j["domain"], "pci");
  EXPECT_EQ(j["full"], true);
  const auto& e = j["exports"][0];
  for (const char* k : {"id", "alias", "mesh", "service", "port", "protocol", "sni", "ingress", "metrics",
                        "proxy_protocol", "approved_at", "expires_at"}) {
    EXPECT_TRUE(e.contains(k)) << k;
  }
  EXPECT_EQ(e["ingress"]["host"], "ingress.pci.example");
  EXPECT_EQ(e["ingress"]["port"], 15443);
  EXPECT_FALSE(e.contains("reason"));  // internal details stay inside the domain
  EXPECT_FALSE(e.contains("requested_by"));
}

// The catalog is written as text; these are the bytes nlohmann's dump() gives for the same
// document (what the peer API sent before), escapes and non-ASCII included.
nlohmann::json reference_document(const CatalogView& v, const std::string& domain, const IngressAddress& ingress) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& e : v.exports) {
    items.push_back({{"id", e.id},
                     {"alias", e.alias},
                     {"mesh", e.mesh},
                     {"service", e.service},
                     {"port", e.port},
                     {"protocol", e.protocol},
                     {"sni", e.sni},
                     {"ingress", {{"host", ingress.host}, {"port", ingress.port}}},
                     {"metrics", e.metrics},
                     {"proxy_protocol", e.proxy_protocol},
                     {"approved_at", format_rfc3339(from_unix_ms(e.approved_at_ms.value_or(0)))},
                     {"expires_at", format_rfc3339(from_unix_ms(e.expires_at_ms.value_or(0)))}});
    if (e.l7) items.back()["l7"] = nlohmann::json::parse(*e.l7);
  }
  nlohmann::json out = {{"api_version", "v1"}, {"domain", domain}, {"revision", v.revision}, {"full", v.full}};
  if (v.full) {
    out["exports"] = std::move(items);
  } else {
    out["upserts"] = std::move(items);
    out["removals"] = v.removals;
  }
  return out;
}

TEST(CatalogText, IsByteForByteWhatTheJsonLibraryWrites) {
  store::ExportRecord odd;
  odd.id = "odd-1";
  odd.alias = "quote\" back\\slash";
  odd.mesh = "m\u00e9sh \xe2\x9c\x93";  // UTF-8 stays as it is
  odd.service = std::string("ctl\x01\x1f\b\f\n\r\t", 9);
  odd.port = 8443;
  odd.protocol = "tcp";
  odd.sni = "odd-1.pci.meshfed";
  odd.metrics = {"http_*", "a\"b"};
  odd.proxy_protocol = true;
  odd.approved_at_ms = 1'800'000'000'000;
  odd.expires_at_ms = 1'800'003'600'123;
  store::ExportRecord plain = odd;
  plain.id = "plain-2";
  plain.alias = "plain";
  plain.metrics.clear();
  plain.proxy_protocol = false;
  plain.expires_at_ms.reset();
  plain.protocol = "http";
  plain.l7 = R"({"http":[{"methods":["GET","POST"],"path":{"prefix":"/v1/"}}]})";
  const IngressAddress ingress{"ingress \"pci\"", 15443};
  for (const bool full : {true, false}) {
    CatalogView v;
    v.revision = 42;
    v.full = full;
    v.exports = {odd, plain};
    if (!full) v.removals = {"gone-1", "gone \"2\""};
    EXPECT_EQ(catalog_text(v, "pci", ingress), reference_document(v, "pci", ingress).dump()) << "full=" << full;
  }
  CatalogView empty;
  EXPECT_EQ(catalog_text(empty, "dmz", ingress), reference_document(empty, "dmz", ingress).dump());
}

}  // namespace
}  // namespace meshfed::federation
