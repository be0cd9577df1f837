// Brokers driving (emulated) Kuma global control planes, one each: the inventory comes from
// MeshServices (or Dataplanes), an approved export becomes a MeshTrafficPermission in the
// exporting mesh, and the import a MeshExternalService in the importing mesh; revocation
// removes both. The emulator answers as Kuma's REST API does (tests/kuma).
#include <gtest/gtest.h>

#include "meshfed/core/text.hpp"
#include "support/net_support.hpp"
#include "approve.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;

class KumaTest : public ::testing::Test {
 protected:
  void SetUp() override { start("2.14.3"); }

  void start(const std::string& version) {
    fed_ = std::make_unique<Federation>(
        std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}}, "auto", 60, 600,
        true);
    for (const std::string d : {"pci", "internal"}) {
      auto& fx = fed_->domain(d);
      kuma_[d] = std::make_unique<KumaEmulator>(fx.dir / "kuma", version);
      write_file(fx.dir / "kuma-token", kuma_[d]->token() + "\n");
      fx.config["control_plane"] = {{"type", "kuma"},        {"url", kuma_[d]->url()},   {"token_file", "kuma-token"},
                                    {"meshes", {"default"}}, {"import_mesh", "default"}, {"ingress_zone", "zone-1"},
                                    {"poll_interval_s", 1}};
      fx.save_config();
    }
  }

  void run() {
    fed_->start_all();
    fed_->connect();
    for (const std::string d : {"pci", "internal"}) clients_[d] = fed_->admin(d);
  }

  void enable_mesh_services(const std::string& d) {
    kuma_.at(d)->call("PUT", "/_emulator/meshes/default", json{{"meshServices", {{"mode", "Exclusive"}}}});
  }

  ApiResult call(const std::string& d, const std::string& method, const std::string& target, const std::string& who,
                 const std::optional<json>& body = std::nullopt) {
    return api_call(*clients_.at(d), method, target, fed_->domain(d).tokens.at(who), body);
  }

  json services(const std::string& d) {
    try {
      return call(d, "GET", "/api/v1/services", "victor").body["items"];
    } catch (const std::exception&) {
      ADD_FAILURE() << d << "'s broker is gone:\n" << fed_->broker(d).log();
      throw;
    }
  }

  std::string approve(const json& request) { return request_and_approve(*fed_, "pci", request); }

  // Managed resources of `plural` in the default mesh of domain `d`'s control plane.
  json managed(const std::string& d, const std::string& plural) {
    json out = json::array();
    auto [status, list] = kuma_.at(d)->call("GET", "/meshes/default/" + plural + "?size=1000");
    for (const auto& r : list["items"]) {
      if (r.contains("labels") && r["labels"].value("meshfed.io/managed-by", "") == "meshfed") out.push_back(r);
    }
    return out;
  }

  double metric(const std::string& d, const std::string& series) { return fed_->metric(d, series); }

  std::unique_ptr<Federation> fed_;
  std::map<std::string, std::unique_ptr<KumaEmulator>> kuma_;
  std::map<std::string, std::unique_ptr<http::HttpsClient>> clients_;
};

TEST_F(KumaTest, ApprovalOpensThePathInBothMeshesAndRevocationClosesIt) {
  enable_mesh_services("pci");
  kuma_["pci"]->zone_meshservice("zone-1", "default", "payments-api", 8443, "http");
  run();
  ASSERT_TRUE(wait_until([&] { return services("pci").size() == 1; })) << fed_->broker("pci").log();
  const json svc = services("pci")[0];
  EXPECT_EQ(svc["name"], "payments-api");  // the display name, not Global's hashed name
  EXPECT_EQ(svc["zone"], "zone-1");
  EXPECT_EQ(svc["address"], "payments-api.svc.mesh.local");

  const std::string id = approve({{"mesh", "default"},
                                  {"service", "payments-api"},
                                  {"zone", "zone-1"},
                                  {"port", 8443},
                                  {"peers", {"internal"}},
                                  {"reason", "checkout"}});
  // Exporting side: the ingress may reach the service, selected by labels.
  ASSERT_TRUE(wait_until([&] { return managed("pci", "meshtrafficpermissions").size() == 1; }))
      << fed_->broker("pci").log();
  const json mtp = managed("pci", "meshtrafficpermissions")[0];
  EXPECT_EQ(mtp["spec"]["targetRef"],
            (json{{"kind", "MeshService"},
                  {"labels", {{"kuma.io/display-name", "payments-api"}, {"kuma.io/zone", "zone-1"}}}}));
  EXPECT_EQ(mtp["spec"]["rules"][0]["default"]["allow"][0]["spiffeID"]["value"], "spiffe://default/meshfed-ingress");
  EXPECT_EQ(mtp["labels"]["meshfed.io/export-id"], id);
  // The ingress routes to the MeshService's hostname as seen from its zone.
  auto routes = call("pci", "GET", "/api/v1/routes", "gw");
  ASSERT_EQ(routes.body["ingress"].size(), 1u);
  EXPECT_EQ(routes.body["ingress"][0]["target"], (json{{"host", "payments-api.svc.mesh.local"}, {"port", 8443}}));

  // Importing side: a MeshExternalService pointing at the egress listener.
  ASSERT_TRUE(wait_until([&] { return managed("internal", "meshexternalservices").size() == 1; }))
      << fed_->broker("internal").log();
  const json mes = managed("internal", "meshexternalservices")[0];
  const json imp = call("internal", "GET", "/api/v1/imports/pci." + id, "victor").body;
  EXPECT_EQ(mes["name"], "pci-payments-api");
  EXPECT_EQ(mes["spec"]["match"], (json{{"type", "HostnameGenerator"}, {"port", 8443}, {"protocol", "http"}}));
  EXPECT_EQ(mes["spec"]["endpoints"][0], (json{{"address", imp["local"]["host"]}, {"port", imp["local"]["port"]}}));
  EXPECT_EQ(mes["labels"]["meshfed.io/import-id"], "pci." + id);

  ASSERT_EQ(call("pci", "POST", "/api/v1/exports/" + id + "/revoke", "bob", json{{"comment", "done"}}).status, 200);
  EXPECT_TRUE(wait_until([&] { return managed("pci", "meshtrafficpermissions").empty(); }))
      << fed_->broker("pci").log();
  EXPECT_TRUE(wait_until([&] { return managed("internal", "meshexternalservices").empty(); }))
      << fed_->broker("internal").log();
  EXPECT_TRUE(
      wait_until([&] { return metric("internal", "meshfed_controlplane_events_total{event=\"deleted\"}") >= 1; }));
}

TEST_F(KumaTest, DriftInAManagedResourceIsRepaired) {
  enable_mesh_services("pci");
  kuma_["pci"]->zone_meshservice("zone-1", "default", "payments-api", 8443);
  run();
  ASSERT_TRUE(wait_until([&] { return services("pci").size() == 1; }));
  approve({{"mesh", "default"},
           {"service", "payments-api"},
           {"zone", "zone-1"},
           {"port", 8443},
           {"peers", {"internal"}},
           {"reason", "checkout"}});
  ASSERT_TRUE(wait_until([&] { return managed("internal", "meshexternalservices").size() == 1; }));
  json mes = managed("internal", "meshexternalservices")[0];
  const json endpoint = mes["spec"]["endpoints"][0];
  // Someone points meshfed's resource elsewhere; the next round puts it back.
  mes["spec"]["endpoints"][0]["address"] = "10.6.6.6";
  for (const char* computed : {"creationTime", "modificationTime", "kri", "snis", "status"}) mes.erase(computed);
  ASSERT_EQ(kuma_["internal"]
                ->call("PUT", "/meshes/default/meshexternalservices/" + mes["name"].get<std::string>(), mes)
                .first,
            200);
  EXPECT_TRUE(wait_until([&] {
    return managed("internal", "meshexternalservices")[0]["spec"]["endpoints"][0] == endpoint;
  })) << fed_->broker("internal").log();
  EXPECT_TRUE(wait_until(
      [&] { return metric("internal", "meshfed_controlplane_events_total{event=\"drift_repaired\"}") >= 1; }));
}

TEST_F(KumaTest, AnUnmanagedResourceOfTheSameNameIsNeverOverwritten) {
  enable_mesh_services("pci");
  kuma_["pci"]->zone_meshservice("zone-1", "default", "payments-api", 8443);
  const json theirs = {{"type", "MeshExternalService"},
                       {"mesh", "default"},
                       {"name", "pci-payments-api"},
                       {"spec",
                        {{"match", {{"type", "HostnameGenerator"}, {"port", 443}, {"protocol", "tcp"}}},
                         {"endpoints", {{{"address", "10.9.9.9"}, {"port", 443}}}}}}};
  ASSERT_EQ(kuma_["internal"]->call("PUT", "/meshes/default/meshexternalservices/pci-payments-api", theirs).first, 201);
  run();
  ASSERT_TRUE(wait_until([&] { return services("pci").size() == 1; }));
  const std::string id = approve({{"mesh", "default"},
                                  {"service", "payments-api"},
                                  {"zone", "zone-1"},
                                  {"port", 8443},
                                  {"peers", {"internal"}},
                                  {"reason", "checkout"}});
  ASSERT_TRUE(wait_until([&] {
    return call("internal", "GET", "/api/v1/imports/pci." + id, "victor").body.value("state", "") == "failed";
  })) << fed_->broker("internal").log();
  const json imp = call("internal", "GET", "/api/v1/imports/pci." + id, "victor").body;
  EXPECT_NE(imp["reason"].get<std::string>().find("name clash"), std::string::npos) << imp.dump();
  const auto [status, still] = kuma_["internal"]->call("GET", "/meshes/default/meshexternalservices/pci-payments-api");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(still["spec"]["endpoints"][0]["address"], "10.9.9.9");
  EXPECT_FALSE(still.contains("labels") && still["labels"].contains("meshfed.io/managed-by"));
}

TEST_F(KumaTest, AControlPlaneThatIsDownIsRetriedUntilItConverges) {
  enable_mesh_services("pci");
  kuma_["pci"]->zone_meshservice("zone-1", "default", "payments-api", 8443);
  run();
  ASSERT_TRUE(wait_until([&] { return services("pci").size() == 1; }));
  kuma_["internal"]->outage(503, 6);  // the next calls fail
  approve({{"mesh", "default"},
           {"service", "payments-api"},
           {"zone", "zone-1"},
           {"port", 8443},
           {"peers", {"internal"}},
           {"reason", "checkout"}});
  EXPECT_TRUE(wait_until([&] { return managed("internal", "meshexternalservices").size() == 1; }))
      << fed_->broker("internal").log();
  EXPECT_TRUE(wait_until(
      [&] { return metric("internal", "meshfed_controlplane_events_total{event=\"errors_server\"}") >= 1; }));
  // The last good inventory was kept through the outage.
  EXPECT_EQ(services("pci").size(), 1u);
}

TEST_F(KumaTest, InventorySpansPages) {
  enable_mesh_services("pci");
  for (int i = 0; i < 250; ++i)
    kuma_["pci"]->zone_meshservice("zone-" + std::to_string(i % 2 + 1), "default", "svc-" + std::to_string(i),
                                   8000 + i);
  run();
  ASSERT_TRUE(wait_until([&] { return services("pci").size() == 250; })) << fed_->broker("pci").log();
  // svc-1 is in zone-2, not the ingress's zone: its hostname names the zone.
  for (const auto& s : services("pci")) {
    if (s["name"] == "svc-1") {
      EXPECT_EQ(s["address"], "svc-1.svc.zone-2.mesh.local");
    }
  }
  const auto [status, requests] = kuma_["pci"]->call("GET", "/_emulator/requests");
  int pages = 0;
  for (const auto& r : requests) pages += r[1] == "/meshes/default/meshservices" ? 1 : 0;
  EXPECT_GE(pages, 3);  // 250 services at 100 a page
}

class OlderKumaTest : public KumaTest {
  void SetUp() override { start("2.11.0"); }
};

TEST_F(OlderKumaTest, WithoutMeshServicesTheDataplanesAreTheInventory) {
  // The mesh keeps meshServices disabled: services are kuma.io/service tags of Dataplanes.
  kuma_["pci"]->zone_dataplane("zone-1", "default", "backend-01", "backend", 8080);
  kuma_["pci"]->zone_dataplane("zone-1", "default", "backend-02", "backend", 8080);
  run();
  ASSERT_TRUE(wait_until([&] { return services("pci").size() == 1; })) << fed_->broker("pci").log();
  EXPECT_EQ(services("pci")[0]["name"], "backend");
  const std::string id = approve({{"mesh", "default"},
                                  {"service", "backend"},
                                  {"zone", "zone-1"},
                                  {"port", 8080},
                                  {"peers", {"internal"}},
                                  {"reason", "fallback"}});
  auto routes = call("pci", "GET", "/api/v1/routes", "gw");
  ASSERT_EQ(routes.body["ingress"].size(), 1u);
  EXPECT_EQ(routes.body["ingress"][0]["target"], (json{{"host", "backend.mesh"}, {"port", 80}}));
  // Before 2.12 the permission names the ingress by its kuma.io/service tag.
  ASSERT_TRUE(wait_until([&] { return managed("pci", "meshtrafficpermissions").size() == 1; }));
  const json mtp = managed("pci", "meshtrafficpermissions")[0];
  EXPECT_EQ(mtp["spec"]["targetRef"], (json{{"kind", "MeshService"}, {"name", "backend"}}));
  EXPECT_EQ(mtp["spec"]["from"][0]["targetRef"]["tags"]["kuma.io/service"], "meshfed-ingress");
  EXPECT_EQ(mtp["labels"]["meshfed.io/export-id"], id);
}

}  // namespace
}  // namespace meshfed::testing
