#include "meshfed/gateway/routes.hpp"

#include <gtest/gtest.h>

#include "meshfed/gateway/proxy_protocol.hpp"
#include "meshfed/gateway/route_builder.hpp"
#include "meshfed/store/repositories.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "support/net_support.hpp"
#include "support/test_support.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::gateway {
namespace {

using nlohmann::json;

RoutingTable sample() {
  RoutingTable t;
  t.revision = 42;
  t.ingress.push_back({"b.pci.meshfed", "b", "internal", {"10.0.0.2", 5432}, false, 1800000000000});
  t.ingress.push_back({"a.pci.meshfed", "a", "internal", {"10.0.0.1", 8443}, true, 1800000000000});
  t.ingress.push_back({"a.pci.meshfed", "a", "dmz", {"10.0.0.1", 8443}, true, 1800000000000});
  t.egress.push_back({"pci.x", {"0.0.0.0", 16001}, "pci", "x.pci.meshfed", {"ingress.pci", 15443}, 1800000000000});
  t.sort();
  return t;
}

TEST(Routes, JsonRoundTripsAndLookupsFindByCallerAndSni) {
  const auto t = sample();
  const auto back = parse_routes(to_json(t).dump());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->revision, 42);
  EXPECT_TRUE(back->same_routes(t));
  ASSERT_NE(t.find_ingress("a.pci.meshfed", "dmz"), nullptr);
  EXPECT_EQ(t.find_ingress("a.pci.meshfed", "dmz")->peer, "dmz");
  EXPECT_EQ(t.find_ingress("b.pci.meshfed", "dmz"), nullptr);  // b is internal's only
  EXPECT_TRUE(t.has_sni("b.pci.meshfed"));
  EXPECT_FALSE(t.has_sni("c.pci.meshfed"));
}

TEST(Routes, ParseNamesTheFieldThatIsWrong) {
  json j = to_json(sample());
  j["ingress"][1]["target"]["port"] = 70000;
  auto r = parse_routes(j.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("ingress[1].target"), std::string::npos) << r.error().message;
  j = to_json(sample());
  j["egress"][0]["expires_at"] = "soon";
  r = parse_routes(j.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("egress[0].expires_at"), std::string::npos) << r.error().message;
  EXPECT_FALSE(parse_routes("[]").ok());
  EXPECT_FALSE(parse_routes(R"({"revision": 1, "ingress": []})").ok());
}

TEST(ProxyProtocol, HeaderCarriesAddressesAndCallerTlvs) {
  auto h = proxy_v2_header({"10.20.0.5", 40000}, {"10.30.0.1", 15443}, "internal", "spiffe://internal/meshfed/egress");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(static_cast<uint8_t>((*h)[12]), 0x21);  // version 2, PROXY
  EXPECT_EQ(static_cast<uint8_t>((*h)[13]), 0x11);  // TCP over IPv4
  size_t consumed = 0;
  auto parsed = testing::parse_proxy_v2(*h + "payload", consumed);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(consumed, h->size());
  EXPECT_EQ(parsed->source, "10.20.0.5:40000");
  EXPECT_EQ(parsed->destination, "10.30.0.1:15443");
  EXPECT_EQ(parsed->tlvs.at(kTlvCallerDomain), "internal");
  EXPECT_EQ(parsed->tlvs.at(kTlvCallerSpiffeId), "spiffe://internal/meshfed/egress");

  auto mixed = proxy_v2_header({"10.20.0.5", 1}, {"fd00::1", 2}, "d", "id");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(static_cast<uint8_t>((*mixed)[13]), 0x21);  // TCP over IPv6, the IPv4 source mapped
  auto p6 = testing::parse_proxy_v2(*mixed, consumed);
  ASSERT_TRUE(p6.has_value());
  EXPECT_EQ(p6->source, "::ffff:10.20.0.5:1");
  EXPECT_FALSE(proxy_v2_header({"ingress.example", 1}, {"10.0.0.1", 2}, "d", "id").ok());
}

class RouteBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(store::Database::open(dir_ / "m.db")).value();
    wf_ = std::make_unique<workflow::ExportWorkflow>(
        *db_, clock_, adapter_, workflow::WorkflowSettings{"pci", "pci", {"internal", "dmz"}, 3600, 7200, 600});
  }

  std::string approved(const std::vector<std::string>& peers, const std::string& service = "payments-api",
                       int64_t port = 8443) {
    workflow::ExportRequest req{"default", service, port, "", peers, "", {}, std::nullopt, false, "why"};
    auto e = wf_->request({"alice", {workflow::Role::kRequester}}, req);
    EXPECT_TRUE(e.ok()) << e.error().message;
    EXPECT_TRUE(wf_->approve({"bob", {workflow::Role::kApprover}}, e->id, {}).ok());
    return e->id;
  }

  Result<RoutingTable> build() {
    return build_routes(*db_, *adapter_.inventory(), {{"internal", "dmz"}, true, std::string("0.0.0.0")}, clock_.now());
  }

  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1800000000000)};
  testing::FakeAdapter adapter_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<workflow::ExportWorkflow> wf_;
};

TEST_F(RouteBuilderTest, OneIngressRoutePerApprovedExportAndScopedPeer) {
  const std::string both = approved({"internal", "dmz"});
  const std::string pending =
      wf_->request({"alice", {workflow::Role::kRequester}},
                   {"default", "payments-api", 8443, "", {"dmz"}, "p2", {}, std::nullopt, false, "why"})
          ->id;
  auto t = build();
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->ingress.size(), 2u);
  EXPECT_NE(t->find_ingress(both + ".pci.meshfed", "internal"), nullptr);
  EXPECT_NE(t->find_ingress(both + ".pci.meshfed", "dmz"), nullptr);
  EXPECT_FALSE(t->has_sni(pending + ".pci.meshfed"));
  EXPECT_EQ(t->ingress[0].target, (HostPort{"127.0.0.1", 8443}));
}

TEST_F(RouteBuilderTest, QuarantinedPeersMissingTargetsAndExpiredExportsHaveNoRoute) {
  const std::string id = approved({"internal", "dmz"});
  const std::string ledger = approved({"internal"}, "ledger", 5432);
  store::PeerRecord dmz;
  ASSERT_TRUE(db_->transaction([&]() -> Status {
                   store::PeerRepository peers(*db_);
                   dmz = peers.get("dmz");
                   dmz.quarantined_since_ms = 1;
                   peers.save(dmz);
                   return {};
                 })
                  .ok());
  controlplane::Inventory inv = *adapter_.inventory();
  inv.services.pop_back();  // ledger left the inventory
  adapter_.set(inv);
  auto t = build();
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->ingress.size(), 1u);
  EXPECT_EQ(t->ingress[0].peer, "internal");
  EXPECT_EQ(t->ingress[0].export_id, id);
  clock_.advance(std::chrono::hours(2));  // past expires_at, before the sweep
  t = build();
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->ingress.empty());
}

TEST_F(RouteBuilderTest, OneExportsRoutesAreReplacedWithoutTouchingTheRest) {
  const std::string a = approved({"internal"});
  const std::string b = approved({"dmz"});
  RouteTableHolder holder(1);
  ASSERT_TRUE(holder.update(*build()));
  ASSERT_EQ(holder.current()->ingress.size(), 2u);

  ASSERT_TRUE(wf_->revoke({"bob", {workflow::Role::kApprover}}, a, {}).ok());
  auto fresh =
      ingress_routes_of(*db_, *adapter_.inventory(), {{"internal", "dmz"}, true, std::nullopt}, {a}, clock_.now());
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(fresh->empty());  // revoked: no route
  EXPECT_TRUE(holder.replace_ingress({a}, *fresh));
  EXPECT_EQ(holder.current()->revision, 3);
  ASSERT_EQ(holder.current()->ingress.size(), 1u);
  EXPECT_EQ(holder.current()->ingress[0].export_id, b);
  EXPECT_TRUE(holder.current()->same_routes(*build()));  // the same as a full rebuild
  EXPECT_FALSE(holder.replace_ingress({a}, {}));         // nothing left to change
}

TEST(RouteTableHolder, RevisionMovesOnlyWhenRoutesChange) {
  RouteTableHolder h(5000);
  EXPECT_EQ(h.current()->revision, 5000);
  EXPECT_FALSE(h.update(RoutingTable{}));
  EXPECT_TRUE(h.update(sample()));
  EXPECT_EQ(h.current()->revision, 5001);
  EXPECT_FALSE(h.update(sample()));
  EXPECT_EQ(h.current()->revision, 5001);
}

}  // namespace
}  // namespace meshfed::gateway
