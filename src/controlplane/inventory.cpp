#include <nlohmann/json.hpp>

#include <set>

#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::controlplane {

const ServicePort* Service::find_port(int p) const {
  for (const auto& sp : ports) {
    if (sp.port == p) return &sp;
  }
  return nullptr;
}

const Service* Inventory::find(const std::string& mesh, const std::string& name, const std::string& zone) const {
  for (const auto& s : services) {
    if (s.mesh == mesh && s.name == name && (zone.empty() || s.zone == zone)) return &s;
  }
  return nullptr;
}

Result<Inventory> parse_inventory(std::string_view json_text) {
  using nlohmann::json;
  auto parsed = parse_strict_json(json_text, {256 * 1024 * 1024, 16}, "inventory");
  if (!parsed) return make_error(ErrorCode::kInvalidArgument, "inventory: " + parsed.error().message);
  const json root = std::move(parsed).value();
  std::vector<FieldError> errors;
  auto err = [&](std::string path, std::string msg) { errors.push_back({std::move(path), std::move(msg)}); };
  Inventory inv;
  if (!root.is_object() || !root.contains("services") || !root["services"].is_array()) {
    return make_error(ErrorCode::kInvalidArgument, "inventory: expected {\"services\": [...]}");
  }
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  const auto& list = root["services"];
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string p = "services[" + std::to_string(i) + "]";
    const auto& j = list[i];
    if (!j.is_object()) {
      err(p, "expected an object");
      continue;
    }
    for (const auto& [k, v] : j.items()) {
      static const std::set<std::string> kKnown{"mesh", "name", "zone", "address", "ports", "labels"};
      if (!kKnown.count(k)) err(p + "." + k, "unknown key");
    }
    Service s;
    auto str = [&](const char* key, bool required, std::string& out) {
      if (!j.contains(key)) {
        if (required) err(p + "." + key, "required");
        return;
      }
      if (!j[key].is_string()) {
        err(p + "." + key, "expected a string");
        return;
      }
      out = j[key].get<std::string>();
    };
    str("mesh", true, s.mesh);
    str("name", true, s.name);
    str("zone", false, s.zone);
    str("address", true, s.address);
    if (!s.name.empty() && !is_rfc1035_label(s.name))
      err(p + ".name", "expected an RFC 1035 label, got \"" + s.name + "\"");
    if (!j.contains("ports") || !j["ports"].is_array() || j["ports"].empty()) {
      err(p + ".ports", "expected a non-empty array of {port, protocol}");
    } else {
      for (size_t k = 0; k < j["ports"].size(); ++k) {
        const auto& pj = j["ports"][k];
        const std::string pp = p + ".ports[" + std::to_string(k) + "]";
        if (!pj.is_object() || !pj.contains("port") || !pj["port"].is_number_integer() ||
            pj["port"].get<int64_t>() < 1 || pj["port"].get<int64_t>() > 65535) {
          err(pp + ".port", "expected a port number 1-65535");
          continue;
        }
        ServicePort sp;
        sp.port = pj["port"].get<int>();
        if (pj.contains("protocol")) {
          if (!pj["protocol"].is_string())
            err(pp + ".protocol", "expected a string");
          else
            sp.protocol = pj["protocol"].get<std::string>();
        }
        s.ports.push_back(sp);
      }
    }
    if (j.contains("labels")) {
      if (!j["labels"].is_object()) {
        err(p + ".labels", "expected an object of strings");
      } else {
        for (const auto& [k, v] : j["labels"].items()) {
          if (!v.is_string())
            err(p + ".labels." + k, "expected a string");
          else
            s.labels[k] = v.get<std::string>();
        }
      }
    }
    if (!seen.insert({s.mesh, s.name, s.zone}).second) err(p, "duplicate service " + s.mesh + "/" + s.name);
    inv.services.push_back(std::move(s));
  }
  if (!errors.empty()) {
    std::string msg = "inventory is invalid:";
    for (const auto& e : errors) msg += " " + e.field + ": " + e.message + ";";
    return make_error(ErrorCode::kInvalidArgument, msg, std::move(errors));
  }
  return inv;
}

}  // namespace meshfed::controlplane
