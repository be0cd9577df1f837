// The control-plane resources meshfed writes, in Kuma's universal JSON shape, shared by the
// static adapter (files) and the Kuma adapter (REST): a MeshExternalService per import and a
// MeshTrafficPermission per approved export. Both carry meshfed's labels; a resource without
// them is never touched.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

#include "meshfed/controlplane/adapter.hpp"

namespace meshfed::controlplane {

inline constexpr const char* kManagedLabel = "meshfed.io/managed-by";
inline constexpr const char* kManagedValue = "meshfed";

// An RFC 1035 label (at most 63 characters) from `prefix` and `id`; a name that would be too
// long keeps a hash of the whole, so different inputs never collide.
std::string resource_name(const std::string& prefix, const std::string& id);

// The name of an import's resource: an RFC 1035 label that no other (peer, alias) pair gets,
// whatever the names (docs/security.md).
std::string import_resource_name(const std::string& peer, const std::string& alias);

// The MeshExternalService of an import, named by import_resource_name().
nlohmann::json mesh_external_service(const DesiredImport& i, const std::string& mesh);

// How the ingress gateway is known inside its mesh, for permissions.
struct IngressIdentity {
  std::string spiffe_id;  // 2.12+: `rules` form
  std::string service;    // before 2.12: `from` form, by kuma.io/service tag
  bool rules_form = true;
};
// The MeshTrafficPermission that lets the ingress reach an exported service.
nlohmann::json mesh_traffic_permission(const DesiredExport& e, const IngressIdentity& ingress);

bool is_managed(const nlohmann::json& resource);

}  // namespace meshfed::controlplane
