#include "meshfed/controlplane/mesh_resources.hpp"

#include <nlohmann/json.hpp>

#include "meshfed/core/text.hpp"

namespace meshfed::controlplane {

std::string resource_name(const std::string& prefix, const std::string& id) {
  std::string name = prefix + "-" + id;
  if (name.size() > 63) name = name.substr(0, 54) + "-" + sha256_hex(prefix + "/" + id).substr(0, 8);
  return name;
}

std::string import_resource_name(const std::string& peer, const std::string& alias) {
  // Dashes in the peer's name are doubled, so the first single dash ends it: "pci" + "eu-x" is
  // pci-eu-x and "pci-eu" + "x" is pci--eu-x. Peer and alias are labels (never ending or, for
  // the alias, starting with a dash), which makes the readable form injective.
  std::string name;
  for (char c : peer) name += c == '-' ? std::string("--") : std::string(1, c);
  name += "-" + alias;
  if (name.size() <= 62) return name;
  // Too long: a prefix and 64 bits of the hash of the pair. Hashed names are always 63
  // characters and readable ones at most 62, so the two forms never meet.
  std::string prefix = name.substr(0, 46);
  while (!prefix.empty() && prefix.back() == '-') prefix.pop_back();
  prefix += "-" + sha256_hex(peer + "/" + alias).substr(0, 16);
  return prefix + std::string(63 - prefix.size(), '0');
}

nlohmann::json mesh_external_service(const DesiredImport& i, const std::string& mesh) {
  return {{"type", "MeshExternalService"},
          {"mesh", mesh},
          {"name", import_resource_name(i.peer, i.alias)},
          {"labels",
           {{kManagedLabel, kManagedValue},
            {"meshfed.io/peer", i.peer},
            {"meshfed.io/import-id", i.id},
            {"meshfed.io/alias", i.alias}}},
          {"spec",
           {{"match", {{"type", "HostnameGenerator"}, {"port", i.port}, {"protocol", i.protocol}}},
            {"endpoints", {{{"address", i.local_host}, {"port", i.local_port}}}}}}};
}

nlohmann::json mesh_traffic_permission(const DesiredExport& e, const IngressIdentity& ingress) {
  // The exported service is selected by its labels, never by the hashed name Global gives it.
  nlohmann::json target = {{"kind", "MeshService"}};
  if (e.by_tag) {
    target["name"] = e.service;  // a Dataplane-only mesh: the kuma.io/service name
  } else {
    target["labels"] = {{"kuma.io/display-name", e.service}};
    if (!e.zone.empty()) target["labels"]["kuma.io/zone"] = e.zone;
  }
  nlohmann::json spec = {{"targetRef", target}};
  if (ingress.rules_form) {
    spec["rules"] = {{{"default", {{"allow", {{{"spiffeID", {{"type", "Exact"}, {"value", ingress.spiffe_id}}}}}}}}}};
  } else {
    spec["from"] = {{{"targetRef", {{"kind", "MeshSubset"}, {"tags", {{"kuma.io/service", ingress.service}}}}},
                     {"default", {{"action", "Allow"}}}}};
  }
  return {{"type", "MeshTrafficPermission"},
          {"mesh", e.mesh},
          {"name", resource_name("meshfed", e.id)},
          {"labels", {{kManagedLabel, kManagedValue}, {"meshfed.io/export-id", e.id}}},
          {"spec", spec}};
}

bool is_managed(const nlohmann::json& resource) {
  const auto it = resource.find("labels");
  return it != resource.end() && it->is_object() && it->value(kManagedLabel, "") == kManagedValue;
}

}  // namespace meshfed::controlplane
