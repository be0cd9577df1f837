// The peer API's gate in front of every resource: who the caller is, and whether it is
// quarantined; a quarantine that cannot be read refuses, as an explicit one does.
#include "meshfed/api/peer_api.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "meshfed/core/clock.hpp"
#include "meshfed/pki/signing.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/catalog_repository.hpp"
#include "meshfed/store/export_repository.hpp"
#include "meshfed/store/peer_repository.hpp"
#include "support/test_support.hpp"

namespace meshfed::api {
namespace {

class PeerApiTest : public ::testing::Test {
 protected:
  static http::Request request(const std::string& peer, const std::string& target) {
    http::Request r;
    r.method = "GET";
    r.target = target;
    EXPECT_TRUE(http::parse_target(r.target, r.path, r.query));
    r.peer = peer;
    r.remote = "127.0.0.1:1";
    return r;
  }
  http::Response get(const std::string& peer, const std::string& target) { return api_.handle(request(peer, target)); }
  std::optional<http::Response> quickly(const std::string& peer, const std::string& target) {
    return api_.answer_quickly(request(peer, target));
  }

  void SetUp() override {
    ASSERT_TRUE(db_->transaction([&](store::Writer& tx) -> Status {
                     store::PeerRecord internal;
                     internal.domain = "internal";
                     internal.quarantined_since_ms = to_unix_ms(clock_.now());
                     internal.quarantined_by = "alice";
                     testing::must(store::PeerRepository(tx).save(internal));
                     return {};
                   })
                    .ok());
  }

  // An approved export to dmz, recorded as a catalog change.
  void approve(const std::string& id) {
    ASSERT_TRUE(db_->transaction([&](store::Writer& tx) -> Status {
                     store::ExportRecord e;
                     e.id = id;
                     e.mesh = "default";
                     e.service = "billing";
                     e.port = 8443;
                     e.protocol = "tcp";
                     e.zone = "zone-1";
                     e.alias = id;
                     e.peers = {"dmz"};
                     e.sni = id + ".pci.meshfed";
                     e.state = store::ExportState::kApproved;
                     e.version = 2;
                     e.requested_by = "alice";
                     e.requested_at_ms = e.pending_expires_at_ms = to_unix_ms(clock_.now());
                     e.approved_at_ms = to_unix_ms(clock_.now());
                     e.expires_at_ms = to_unix_ms(clock_.now()) + 3'600'000;
                     testing::must(store::ExportRepository(tx).insert(e));
                     testing::must(store::CatalogRepository(tx).record_change(id, to_unix_ms(clock_.now())));
                     return {};
                   })
                    .ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Database> db_ = std::move(store::Database::open(dir_ / "p.db")).value();
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  federation::Catalog catalog_{*db_, *db_, clock_};
  metrics::Registry registry_;
  std::shared_ptr<const pki::Signer> key_ = [this] {
    testing::make_pki(dir_ / "pki", "pci");
    return std::make_shared<const pki::Signer>(
        testing::must(pki::Signer::load(dir_ / "pki/broker.pem", dir_ / "pki/broker-key.pem")));
  }();
  federation::AuditHeadSigner audit_head_{"pci", [this] { return key_; }};
  PeerApi api_{PeerApiDeps{catalog_, registry_, [] { return std::string("pci"); },
                           [] {
                             return federation::IngressAddress{"127.0.0.1", 15443};
                           },
                           [](const std::string& p) { return p == "dmz" || p == "internal"; },
                           [](const std::string& p) { return "# exported to " + p + "\n"; }, audit_head_,
                           [](const std::string& p) -> Result<std::string> { return "{\"of\":\"" + p + "\"}"; }}};
};

// Every catalog answer carries our audit head, signed by our broker key: in the body, and in a
// header where a long-poll ends without one.
TEST_F(PeerApiTest, EveryCatalogAnswerCarriesOurSignedAuditHead) {
  ASSERT_TRUE(db_->transaction([&](store::Writer& tx) -> Status {
                   auto appended = store::AuditRepository(tx).append(clock_.now(), "alice", "x", "y", {});
                   return appended ? Status{} : Status(appended.error());
                 })
                  .ok());
  auto check = [&](const std::string& text) {
    const auto signed_head = testing::must(audit::signed_head_from_text(text, "head"));
    EXPECT_EQ(signed_head.head.seq, 1);
    EXPECT_TRUE(pki::verify_signature(key_->certificate_der(), audit::signed_text("pci", signed_head.head),
                                      signed_head.signature)
                    .ok());
    EXPECT_FALSE(pki::verify_signature(key_->certificate_der(), audit::signed_text("dmz", signed_head.head),
                                       signed_head.signature)
                     .ok());
  };
  const auto full = get("dmz", "/federation/v1/catalog");
  ASSERT_EQ(full.status, 200) << full.body;
  check(nlohmann::json::parse(full.body)["audit_head"].dump());
  const auto revision = nlohmann::json::parse(full.body)["revision"].get<int64_t>();
  const auto delta = get("dmz", "/federation/v1/catalog?since=" + std::to_string(revision));
  check(nlohmann::json::parse(delta.body)["audit_head"].dump());
  const auto poll = request("dmz", "/federation/v1/catalog?wait=5&since=" + std::to_string(revision));
  ASSERT_TRUE(api_.handle(poll).waiting());
  const auto headers = api_.not_modified_headers(poll);  // as the 304 goes out
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].first, "Meshfed-Audit-Head");
  check(headers[0].second);
  const auto witnessed = get("dmz", "/federation/v1/witness");
  EXPECT_EQ(witnessed.body, "{\"of\":\"dmz\"}");
}

TEST_F(PeerApiTest, AQuarantineThatCannotBeReadRefusesThePeer) {
  EXPECT_EQ(get("dmz", "/federation/v1/metrics").status, 200);
  EXPECT_EQ(get("internal", "/federation/v1/metrics").status, 403);  // quarantined
  for (const auto* target : {"/federation/v1/metrics", "/federation/v1/catalog"}) {
    db_->fail_nth_statement(1);  // the quarantine's read fails
    const auto res = get("dmz", target);
    db_->fail_nth_statement(0);
    EXPECT_EQ(res.status, 503) << target;
    EXPECT_NE(res.body.find("cannot read whether peer dmz is quarantined; refusing until it can be read"),
              std::string::npos)
        << res.body;
    EXPECT_EQ(res.body.find("exported"), std::string::npos) << target;
  }
  EXPECT_NE(registry_.expose().find("meshfed_peer_api_refused_total{peer=\"dmz\",reason=\"undecided\"} 2"),
            std::string::npos);
}

// What the connection's loop may answer itself costs a read or two; a catalog to build is left
// to handle(), and the two give the same bytes.
TEST_F(PeerApiTest, AKeptOrUnchangedCatalogIsAnsweredQuicklyAndTheRestIsLeftToBuild) {
  approve("billing-1");
  EXPECT_FALSE(quickly("dmz", "/federation/v1/catalog"));  // nothing kept yet
  const auto built = get("dmz", "/federation/v1/catalog");
  ASSERT_EQ(built.status, 200);
  const auto kept = quickly("dmz", "/federation/v1/catalog");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->status, 200);
  EXPECT_EQ(kept->body, built.body);

  const int64_t revision = nlohmann::json::parse(built.body).at("revision").get<int64_t>();
  const std::string since = "/federation/v1/catalog?since=" + std::to_string(revision);
  const auto waits = quickly("dmz", since + "&wait=30");
  ASSERT_TRUE(waits);
  EXPECT_TRUE(waits->waiting());  // up to date: the server waits for a change
  const auto nothing_new = quickly("dmz", since);
  ASSERT_TRUE(nothing_new);
  EXPECT_EQ(nothing_new->body, get("dmz", since).body);

  approve("billing-2");  // the catalog moved: a delta, and a new full answer, must be built
  EXPECT_FALSE(quickly("dmz", since + "&wait=30"));
  EXPECT_FALSE(quickly("dmz", "/federation/v1/catalog"));
  EXPECT_NE(get("dmz", since).body.find("billing-2"), std::string::npos);

  // Refusals and the metrics need no build: answered at once, and counted once.
  const auto refused = quickly("internal", "/federation/v1/catalog");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  const auto stranger = quickly("mallory", "/federation/v1/catalog");
  ASSERT_TRUE(stranger);
  EXPECT_EQ(stranger->status, 403);
  EXPECT_NE(registry_.expose().find("meshfed_peer_api_refused_total{peer=\"internal\",reason=\"quarantined\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace meshfed::api
