// The routing table as the broker computes it from the store and the inventory.
#include "meshfed/routing/route_builder.hpp"

#include <gtest/gtest.h>

#include "unit/gateway/ingress_route.hpp"
#include <nlohmann/json.hpp>

#include "meshfed/store/peer_repository.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "support/test_support.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::routing {
namespace {

class RouteBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(store::Database::open(dir_ / "m.db")).value();
    wf_ = std::make_unique<workflow::ExportWorkflow>(
        *db_, clock_, adapter_, workflow::WorkflowSettings{"pci", "pci", {"internal", "dmz"}, 3600, 7200, 600});
  }

  std::string approved(const std::vector<std::string>& peers, const std::string& service = "payments-api",
                       int64_t port = 8443) {
    workflow::ExportRequest req{"default", service, port, "", peers, "", {}, std::nullopt, false, "why", {}};
    auto e = wf_->request({"alice", {workflow::Role::kRequester}}, req);
    EXPECT_TRUE(e.ok()) << e.error().message;
    EXPECT_TRUE(wf_->approve({"bob", {workflow::Role::kApprover}}, e->id, {}).ok());
    return e->id;
  }

  Result<RoutingTable> build() {
    return build_routes(*db_, *adapter_.inventory(), {{"internal", "dmz"}, true, std::string("0.0.0.0"), {}},
                        clock_.now());
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
                   {"default", "payments-api", 8443, "", {"dmz"}, "p2", {}, std::nullopt, false, "why", {}})
          ->id;
  auto t = build();
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->ingress.size(), 2u);
  EXPECT_NE(t->find_ingress(both + ".pci.meshfed", "internal"), nullptr);
  EXPECT_NE(t->find_ingress(both + ".pci.meshfed", "dmz"), nullptr);
  EXPECT_FALSE(t->has_sni(pending + ".pci.meshfed"));
  EXPECT_EQ(t->ingress[0].target, (HostPort{"127.0.0.1", 8443}));
}

// An approved export with L7 rules gets no ingress route while the ingress cannot enforce them
// per request: approved rules must never mean "any bytes".
TEST_F(RouteBuilderTest, AnExportsL7RulesAndProtocolTravelToTheIngress) {
  controlplane::Inventory inv = *adapter_.inventory();
  inv.services.back().ports.push_back({9090, "grpc", std::nullopt});
  adapter_.set(inv);
  auto with_rules = [&](int64_t port, const char* rules) {
    workflow::ExportRequest req{"default",    "ledger", port,  "", {"internal"}, "ledger-" + std::to_string(port), {},
                                std::nullopt, false,    "why", {}};
    req.l7 = policy::parse_l7(nlohmann::json::parse(rules)).value();
    auto e = wf_->request({"alice", {workflow::Role::kRequester}}, req);
    EXPECT_TRUE(e.ok()) << e.error().message;
    EXPECT_TRUE(wf_->approve({"bob", {workflow::Role::kApprover}}, e->id, {}).ok());
    return e->id;
  };
  const std::string http = with_rules(9187, R"({"http": [{"methods": ["GET"], "path": {"exact": "/"}}]})");
  const std::string grpc = with_rules(9090, R"({"grpc": ["ledger.v1.Entries/Get"]})");
  const std::string tcp = approved({"internal"});
  auto t = build();
  ASSERT_TRUE(t.ok());
  const auto* route = t->find_ingress(http + ".pci.meshfed", "internal");
  ASSERT_NE(route, nullptr);
  ASSERT_NE(route->l7, nullptr);
  EXPECT_EQ(route->l7->http.at(0).path.value, "/");
  EXPECT_EQ(route->protocol, "http");
  const auto* grpc_route = t->find_ingress(grpc + ".pci.meshfed", "internal");
  ASSERT_NE(grpc_route, nullptr);
  EXPECT_EQ(grpc_route->protocol, "grpc");
  EXPECT_EQ(grpc_route->l7->grpc, std::vector<std::string>{"ledger.v1.Entries/Get"});
  ASSERT_NE(t->find_ingress(tcp + ".pci.meshfed", "internal"), nullptr);
  EXPECT_EQ(t->find_ingress(tcp + ".pci.meshfed", "internal")->l7, nullptr);
  EXPECT_EQ(t->find_ingress(tcp + ".pci.meshfed", "internal")->protocol, "tcp");
}

TEST_F(RouteBuilderTest, QuarantinedPeersMissingTargetsAndExpiredExportsHaveNoRoute) {
  const std::string id = approved({"internal", "dmz"});
  const std::string ledger = approved({"internal"}, "ledger", 5432);
  store::PeerRecord dmz;
  ASSERT_TRUE(db_->transaction([&](store::Writer& tx) -> Status {
                   store::PeerRepository peers(tx);
                   dmz = testing::must(peers.get("dmz"));
                   dmz.quarantined_since_ms = 1;
                   testing::must(peers.save(dmz));
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
      ingress_routes_of(*db_, *adapter_.inventory(), {{"internal", "dmz"}, true, std::nullopt, {}}, {a}, clock_.now());
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
  RoutingTable one;
  one.ingress.push_back(
      testing::ingress_route("a.pci.meshfed", "a", "internal", "10.0.0.1", 8443, true, 1800000000000));
  EXPECT_TRUE(h.update(one));
  EXPECT_EQ(h.current()->revision, 5001);
  EXPECT_FALSE(h.update(one));
  EXPECT_EQ(h.current()->revision, 5001);
}

}  // namespace
}  // namespace meshfed::routing
