#include "meshfed/controlplane/mesh_resources.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <map>

#include "meshfed/core/text.hpp"

namespace meshfed::controlplane {
namespace {

TEST(MeshResources, NamesAreRfc1035LabelsAndLongOnesStayDistinct) {
  EXPECT_EQ(resource_name("pci", "payments-api"), "pci-payments-api");
  const std::string a = resource_name("pci", std::string(70, 'a'));
  const std::string b = resource_name("pci", std::string(69, 'a') + "b");
  EXPECT_EQ(a.size(), 63u);
  EXPECT_EQ(b.size(), 63u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, resource_name("pci", std::string(70, 'a')));  // deterministic
}

TEST(MeshResources, DistinctPeerAliasPairsNeverShareAName) {
  // The takeover that was possible with "<peer>-<alias>": pci/eu-payments against pci-eu/payments.
  EXPECT_EQ(import_resource_name("pci", "eu-payments"), "pci-eu-payments");
  EXPECT_EQ(import_resource_name("pci-eu", "payments"), "pci--eu-payments");
  // Every split of a dashed string, short and long, across peers with and without dashes.
  std::map<std::string, std::pair<std::string, std::string>> seen;
  const std::vector<std::string> words = {"a",
                                          "pci",
                                          "pci-eu",
                                          "pci-eu-west",
                                          "x--y",
                                          std::string(40, 'p'),
                                          std::string(30, 'q') + "-" + std::string(30, 'r')};
  for (const auto& peer : words) {
    for (const auto& alias : words) {
      for (const auto& tail : {std::string(), std::string("-") + std::string(25, 'z'), std::string("-x")}) {
        const std::string a = alias + tail;
        if (a.size() > 63) continue;
        const std::string name = import_resource_name(peer, a);
        EXPECT_TRUE(is_rfc1035_label(name)) << name;
        const auto [it, fresh] = seen.emplace(name, std::pair{peer, a});
        EXPECT_TRUE((fresh || it->second == std::pair{peer, a}))
            << name << " from " << peer << "/" << a << " and " << it->second.first << "/" << it->second.second;
      }
    }
  }
  // A readable name is at most 62 characters, a hashed one exactly 63: an alias spelling out
  // another pair's hashed name cannot reproduce it.
  const std::string hashed = import_resource_name(std::string(40, 'p'), std::string(40, 'a'));
  EXPECT_EQ(hashed.size(), 63u);
  const std::string rest = hashed.substr(std::string(40, 'p').size() + 1);
  EXPECT_NE(import_resource_name(std::string(40, 'p'), rest), hashed);
}

TEST(MeshResources, ExternalServicePointsAtTheEgressAndIsLabelled) {
  const auto doc = mesh_external_service({"pci.x", "pci", "payments", "http", "10.0.0.7", 16001, 8443}, "imports");
  EXPECT_EQ(doc["mesh"], "imports");
  EXPECT_EQ(doc["name"], "pci-payments");
  EXPECT_EQ(doc["spec"]["match"],
            (nlohmann::json{{"type", "HostnameGenerator"}, {"port", 8443}, {"protocol", "http"}}));
  EXPECT_EQ(doc["spec"]["endpoints"][0], (nlohmann::json{{"address", "10.0.0.7"}, {"port", 16001}}));
  EXPECT_TRUE(is_managed(doc));
  EXPECT_EQ(doc["labels"]["meshfed.io/import-id"], "pci.x");
  EXPECT_FALSE(is_managed(nlohmann::json{{"labels", {{"team", "payments"}}}}));
  EXPECT_FALSE(is_managed(nlohmann::json{{"name", "no-labels"}}));
}

TEST(MeshResources, PermissionFollowsTheControlPlaneVersion) {
  const DesiredExport e{"payments-x1", "default", "payments-api", "zone-1", 8443, false};
  const auto rules = mesh_traffic_permission(e, {"spiffe://default/meshfed-ingress", "meshfed-ingress", true});
  EXPECT_EQ(rules["spec"]["targetRef"]["labels"]["kuma.io/display-name"], "payments-api");
  EXPECT_EQ(rules["spec"]["targetRef"]["labels"]["kuma.io/zone"], "zone-1");
  EXPECT_FALSE(rules["spec"]["targetRef"].contains("name"));  // never Global's hashed name
  EXPECT_EQ(rules["spec"]["rules"][0]["default"]["allow"][0]["spiffeID"],
            (nlohmann::json{{"type", "Exact"}, {"value", "spiffe://default/meshfed-ingress"}}));
  EXPECT_FALSE(rules["spec"].contains("from"));

  const auto from = mesh_traffic_permission(e, {"", "meshfed-ingress", false});
  EXPECT_EQ(from["spec"]["from"][0]["targetRef"]["tags"]["kuma.io/service"], "meshfed-ingress");
  EXPECT_EQ(from["spec"]["from"][0]["default"]["action"], "Allow");
  EXPECT_FALSE(from["spec"].contains("rules"));

  const auto by_tag =
      mesh_traffic_permission({"b-1", "default", "backend", "", 8080, true}, {"", "meshfed-ingress", false});
  EXPECT_EQ(by_tag["spec"]["targetRef"], (nlohmann::json{{"kind", "MeshService"}, {"name", "backend"}}));
}

}  // namespace
}  // namespace meshfed::controlplane
