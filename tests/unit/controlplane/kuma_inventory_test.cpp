#include "controlplane/kuma_inventory.hpp"

#include <gtest/gtest.h>

namespace meshfed::controlplane {
namespace {

using nlohmann::json;

json mesh_service(const std::string& name, json labels, json ports) {
  return {
      {"type", "MeshService"}, {"name", name}, {"labels", std::move(labels)}, {"spec", {{"ports", std::move(ports)}}}};
}

TEST(KumaInventory, MeshServicesBecomeServicesWithTheHostnamesTheSidecarResolves) {
  const std::vector<json> items = {
      mesh_service("payments-x7k", {{"kuma.io/display-name", "payments"}, {"kuma.io/zone", "eu"}},
                   json::array({{{"port", 8443}, {"appProtocol", "http"}}, {{"port", 9090}}})),
      mesh_service("ledger", {{"kuma.io/zone", "us"}}, json::array({{{"port", 5432}}})),
      mesh_service("web", {{"kuma.io/zone", "us"}, {"k8s.kuma.io/namespace", "shop"}}, json::array()),
      mesh_service("plain", json::object(), json::array())};
  const auto found = services_from_mesh_services("default", items, "eu");
  EXPECT_TRUE(found.skipped.empty());
  ASSERT_EQ(found.services.size(), 4u);
  const auto& payments = found.services[0];
  EXPECT_EQ(payments.name, "payments");  // the display name, not the generated one
  EXPECT_EQ(payments.zone, "eu");
  EXPECT_EQ(payments.address, "payments.svc.mesh.local");  // in the ingress's own zone
  ASSERT_EQ(payments.ports.size(), 2u);
  EXPECT_EQ(payments.ports[0].protocol, "http");
  EXPECT_EQ(payments.ports[1].protocol, "tcp");
  EXPECT_FALSE(payments.from_dataplanes);
  EXPECT_EQ(found.services[1].address, "ledger.svc.us.mesh.local");
  EXPECT_EQ(found.services[2].address, "web.shop.svc.us.mesh.local");
  EXPECT_EQ(found.services[3].address, "plain.svc.mesh.local");
}

TEST(KumaInventory, WhatBreaksTheContractIsLeftOutAndNamedNeverThrown) {
  const std::vector<json> items = {
      "not an object",
      mesh_service("", json::object(), json::array()),
      mesh_service("odd", "labels as a string", json::array({{{"port", "80"}}, {{"port", 70000}}, {{"port", 81}}})),
      {{"name", "nospec"}, {"spec", {{"ports", {{"port", 1}}}}}},
      mesh_service("kept", {{"kuma.io/zone", 7}}, json::array({{{"port", 82}, {"appProtocol", 3}}}))};
  const auto found = services_from_mesh_services("default", items, "");
  ASSERT_EQ(found.services.size(), 3u);  // odd, nospec and kept, each with what was readable
  EXPECT_EQ(found.services[0].name, "odd");
  ASSERT_EQ(found.services[0].ports.size(), 1u);
  EXPECT_EQ(found.services[0].ports[0].port, 81);
  EXPECT_TRUE(found.services[1].ports.empty());
  EXPECT_EQ(found.services[2].zone, "");  // a label that is not a string is no label
  EXPECT_TRUE(found.services[2].ports.empty());
  auto said = [&](const std::string& text) {
    for (const auto& s : found.skipped)
      if (s.find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(said("default/meshservices[0]: expected an object")) << ::testing::PrintToString(found.skipped);
  EXPECT_TRUE(said("default/meshservices[1]: a MeshService without a name"));
  EXPECT_TRUE(said("default/meshservices[2].labels: expected an object"));
  EXPECT_TRUE(said("default/meshservices[2].spec.ports[0].port: expected an integer"));
  EXPECT_TRUE(said("default/meshservices[2].spec.ports[1].port: expected an integer in [1, 65535]"));
  EXPECT_TRUE(said("default/meshservices[3].spec.ports: expected an array"));
  EXPECT_TRUE(said("default/meshservices[4].spec.ports[0].appProtocol: expected a string"));
}

TEST(KumaInventory, DataplanesGroupByServiceAndZoneBehindTheVip) {
  auto dataplane = [](const std::string& zone, json inbound) {
    return json{{"labels", {{"kuma.io/zone", zone}}}, {"networking", {{"inbound", std::move(inbound)}}}};
  };
  const std::vector<json> items = {
      dataplane("eu",
                json::array({{{"port", 8080}, {"tags", {{"kuma.io/service", "web"}, {"kuma.io/protocol", "http"}}}},
                             {{"port", 9000}, {"tags", {{"kuma.io/service", "admin"}}}}})),
      dataplane("eu", json::array({{{"port", 8080}, {"tags", {{"kuma.io/service", "web"}}}}})),  // a second pod
      dataplane("us", json::array({{{"port", 8080}, {"tags", {{"kuma.io/service", "web"}}}}})),
      dataplane("eu", json::array({{{"port", "x"}, {"tags", {{"kuma.io/service", "bad"}}}}, {{"tags", "no"}}})),
      {{"networking", {{"inbound", "not a list"}}}}};
  const auto found = services_from_dataplanes("default", items);
  ASSERT_EQ(found.services.size(), 3u);  // (admin, eu), (web, eu), (web, us)
  EXPECT_EQ(found.services[0].name, "admin");
  const auto& web = found.services[1];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.zone, "eu");
  EXPECT_EQ(web.address, "web.mesh");
  EXPECT_TRUE(web.from_dataplanes);
  ASSERT_EQ(web.ports.size(), 1u);  // both pods' 8080 is one port
  EXPECT_EQ(web.ports[0].protocol, "http");
  EXPECT_EQ(web.ports[0].target_port, 80);
  EXPECT_EQ(found.services[2].zone, "us");
  EXPECT_EQ(found.skipped.size(), 3u) << ::testing::PrintToString(found.skipped);
}

}  // namespace
}  // namespace meshfed::controlplane
