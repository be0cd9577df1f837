#include "kuma_inventory.hpp"

#include <map>

#include "core/json_reader.hpp"

namespace meshfed::controlplane {
namespace {

using nlohmann::json;

constexpr ReaderRules kKumaFields{.unknown_keys_are_errors = false, .null_is_absent = true};

// An object of string values (labels, tags); other values are not labels and are left out.
std::map<std::string, std::string> string_map(const json* obj, const std::string& path, FieldErrors& errors) {
  std::map<std::string, std::string> out;
  if (!obj) return out;
  if (!obj->is_object()) {
    errors.add(path, "expected an object, got " + describe(*obj));
    return out;
  }
  for (const auto& [k, v] : obj->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

// The array at `key` of `reader`'s object, or null (absent, or wrong, which is recorded).
const json* array_at(ObjectReader& reader, const std::string& key) {
  const json* v = reader.get(key);
  if (v && !v->is_array()) {
    reader.errors().add(reader.path_of(key), "expected an array, got " + describe(*v));
    return nullptr;
  }
  return v;
}

void keep_errors(FieldErrors& errors, std::vector<std::string>& skipped) {
  for (auto& e : errors.take()) skipped.push_back(e.field + ": " + e.message);
}

}  // namespace

KumaServices services_from_mesh_services(const std::string& mesh, const std::vector<json>& items,
                                         const std::string& ingress_zone) {
  KumaServices out;
  for (size_t i = 0; i < items.size(); ++i) {
    FieldErrors errors;
    const std::string path = mesh + "/meshservices[" + std::to_string(i) + "]";
    ObjectReader ms(items[i], path, errors, kKumaFields);
    if (!ms.valid()) {
      keep_errors(errors, out.skipped);
      continue;
    }
    Service s;
    s.mesh = mesh;
    s.labels = string_map(ms.get("labels"), ms.path_of("labels"), errors);
    const auto name = ms.string("name", true);
    const auto display = s.labels.find("kuma.io/display-name");
    s.name = display != s.labels.end() ? display->second : name.value_or("");
    if (s.name.empty()) {
      errors.add(path, "a MeshService without a name");
      keep_errors(errors, out.skipped);
      continue;
    }
    s.zone = s.labels.count("kuma.io/zone") ? s.labels["kuma.io/zone"] : "";
    const std::string ns = s.labels.count("k8s.kuma.io/namespace") ? s.labels["k8s.kuma.io/namespace"] : "";
    // The hostname the ingress's sidecar resolves (kuma-api.md 6.3, default generators).
    if (!ns.empty()) {
      s.address = s.name + "." + ns + ".svc." + s.zone + ".mesh.local";
    } else if (s.zone.empty() || s.zone == ingress_zone) {
      s.address = s.name + ".svc.mesh.local";
    } else {
      s.address = s.name + ".svc." + s.zone + ".mesh.local";
    }
    if (const json* spec_doc = ms.get("spec")) {
      ObjectReader spec(*spec_doc, ms.path_of("spec"), errors, kKumaFields);
      if (const json* ports = spec.valid() ? array_at(spec, "ports") : nullptr) {
        for (size_t k = 0; k < ports->size(); ++k) {
          const size_t errors_before = errors.size();
          ObjectReader port(ports->at(k), spec.path_of("ports") + "[" + std::to_string(k) + "]", errors, kKumaFields);
          const auto number = port.integer("port", 1, 65535);
          const auto protocol = port.string("appProtocol", false);
          if (errors.size() > errors_before) continue;  // a port we cannot read in full is no port
          if (number) s.ports.push_back({static_cast<int>(*number), protocol.value_or("tcp"), std::nullopt});
        }
      }
    }
    keep_errors(errors, out.skipped);
    out.services.push_back(std::move(s));
  }
  return out;
}

KumaServices services_from_dataplanes(const std::string& mesh, const std::vector<json>& items) {
  KumaServices out;
  std::map<std::pair<std::string, std::string>, Service> by_service;
  for (size_t i = 0; i < items.size(); ++i) {
    FieldErrors errors;
    ObjectReader dp(items[i], mesh + "/dataplanes[" + std::to_string(i) + "]", errors, kKumaFields);
    if (!dp.valid()) {
      keep_errors(errors, out.skipped);
      continue;
    }
    auto labels = string_map(dp.get("labels"), dp.path_of("labels"), errors);
    const std::string zone = labels.count("kuma.io/zone") ? labels["kuma.io/zone"] : "";
    const json* networking_doc = dp.get("networking");
    if (!networking_doc) {
      keep_errors(errors, out.skipped);
      continue;
    }
    ObjectReader networking(*networking_doc, dp.path_of("networking"), errors, kKumaFields);
    const json* inbound = networking.valid() ? array_at(networking, "inbound") : nullptr;
    for (size_t k = 0; inbound && k < inbound->size(); ++k) {
      ObjectReader in(inbound->at(k), networking.path_of("inbound") + "[" + std::to_string(k) + "]", errors,
                      kKumaFields);
      auto tags = string_map(in.get("tags"), in.path_of("tags"), errors);
      const auto port = in.integer("port", 1, 65535);
      const std::string name = tags.count("kuma.io/service") ? tags["kuma.io/service"] : "";
      if (name.empty() || !port) continue;
      Service& s = by_service[{name, zone}];
      s.mesh = mesh;
      s.name = name;
      s.zone = zone;
      s.address = name + ".mesh";
      s.from_dataplanes = true;
      s.labels["kuma.io/service"] = name;
      const std::string protocol = tags.count("kuma.io/protocol") ? tags["kuma.io/protocol"] : "tcp";
      if (!s.find_port(static_cast<int>(*port))) s.ports.push_back({static_cast<int>(*port), protocol, 80});
    }
    keep_errors(errors, out.skipped);
  }
  for (auto& [key, s] : by_service) out.services.push_back(std::move(s));
  return out;
}

}  // namespace meshfed::controlplane
