// The services a Kuma control plane describes (kuma-api.md 6): its MeshServices, or, in a mesh
// without them, the kuma.io/service tags of its Dataplanes' inbounds. Pure and non-throwing:
// an item or a port that is not what the contract says is left out and named in `skipped`.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "meshfed/controlplane/adapter.hpp"

namespace meshfed::controlplane {

struct KumaServices {
  std::vector<Service> services;
  std::vector<std::string> skipped;  // "<mesh>/meshservices[3].spec.ports[0].port: expected ..."
};

// `ingress_zone`: the zone our ingress's sidecar is in; a service there is reached by its
// zone-less hostname.
KumaServices services_from_mesh_services(const std::string& mesh, const std::vector<nlohmann::json>& items,
                                         const std::string& ingress_zone);
// One service per (kuma.io/service, zone), reached through the mesh's VIP on port 80.
KumaServices services_from_dataplanes(const std::string& mesh, const std::vector<nlohmann::json>& items);

}  // namespace meshfed::controlplane
