#include "meshfed/gateway/routes.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <tuple>

#include "meshfed/core/clock.hpp"
#include "core/json_reader.hpp"
#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/pki/pki.hpp"

namespace meshfed::gateway {
namespace {

using nlohmann::json;

json host_port_json(const HostPort& hp) { return {{"host", hp.host}, {"port", hp.port}}; }

// One route's fields, read with the shared field reader so that every error names its path
// ("ingress[3].target.port"). Unknown keys are tolerated: a newer broker may add fields.
class RouteFields {
 public:
  RouteFields(const json& j, std::string path, FieldErrors& errors)
      : read_(j, std::move(path), errors, ReaderRules{.unknown_keys_are_errors = false}) {}

  std::string string(const char* key) {
    auto v = read_.string(key, true);
    if (v && v->empty()) read_.errors().add(read_.path_of(key), "expected a non-empty string");
    return v.value_or("");
  }
  bool boolean(const char* key) {
    auto v = read_.boolean(key);
    if (!v && !read_.has(key)) read_.errors().add(read_.path_of(key), "required");
    return v.value_or(false);
  }
  HostPort host_port(const char* key) {
    const json* v = read_.get(key);
    if (!v) {
      read_.errors().add(read_.path_of(key), "required");
      return {};
    }
    RouteFields inner(*v, read_.path_of(key), read_.errors());
    HostPort hp;
    hp.host = inner.string("host");
    hp.port = static_cast<uint16_t>(inner.read_.integer("port", 1, 65535).value_or(0));
    if (!inner.read_.has("port")) read_.errors().add(inner.read_.path_of("port"), "required");
    return hp;
  }
  int64_t time(const char* key) {
    const auto text = read_.string(key, true);
    const auto t = text ? parse_rfc3339(*text) : std::nullopt;
    if (text && !t) read_.errors().add(read_.path_of(key), "expected an RFC 3339 time, got \"" + *text + "\"");
    return t ? to_unix_ms(*t) : 0;
  }

 private:
  ObjectReader read_;
};

}  // namespace

const IngressRoute* RoutingTable::find_ingress(std::string_view sni, std::string_view peer) const {
  auto it = std::lower_bound(ingress.begin(), ingress.end(), std::pair{sni, peer},
                             [](const IngressRoute& r, const auto& key) {
                               return std::pair<std::string_view, std::string_view>(r.sni, r.peer) < key;
                             });
  return it != ingress.end() && it->sni == sni && it->peer == peer ? &*it : nullptr;
}

bool RoutingTable::has_sni(std::string_view sni) const {
  auto it = std::lower_bound(ingress.begin(), ingress.end(), sni,
                             [](const IngressRoute& r, std::string_view key) { return std::string_view(r.sni) < key; });
  return it != ingress.end() && it->sni == sni;
}

void RoutingTable::sort() {
  std::sort(ingress.begin(), ingress.end(),
            [](const auto& a, const auto& b) { return std::tie(a.sni, a.peer) < std::tie(b.sni, b.peer); });
  std::sort(egress.begin(), egress.end(), [](const auto& a, const auto& b) { return a.import_id < b.import_id; });
  std::sort(api_peers.begin(), api_peers.end(), [](const auto& a, const auto& b) { return a.domain < b.domain; });
}

json to_json(const RoutingTable& t) {
  json in = json::array();
  for (const auto& r : t.ingress) {
    json route = {{"sni", r.sni},
                  {"export_id", r.export_id},
                  {"peer", r.peer},
                  {"target", host_port_json(r.target)},
                  {"proxy_protocol", r.proxy_protocol},
                  {"expires_at", format_rfc3339(from_unix_ms(r.expires_at_ms))}};
    if (r.l7) {
      route["l7"] = policy::to_json(*r.l7);
      route["protocol"] = r.protocol;
    }
    in.push_back(std::move(route));
  }
  json out = json::array();
  for (const auto& r : t.egress) {
    out.push_back({{"import_id", r.import_id},
                   {"listen", host_port_json(r.listen)},
                   {"peer", r.peer},
                   {"sni", r.sni},
                   {"ingress", host_port_json(r.ingress)},
                   {"expires_at", format_rfc3339(from_unix_ms(r.expires_at_ms))}});
  }
  json peers = json::array();
  for (const auto& p : t.api_peers) {
    peers.push_back({{"domain", p.domain}, {"trust_domain", p.trust_domain}, {"ca_pem", p.ca_pem}});
  }
  return {
      {"revision", t.revision}, {"ingress", std::move(in)}, {"egress", std::move(out)}, {"peers", std::move(peers)}};
}

namespace {

// "peers": absent from an older broker's answer; bounded in count and size, every CA a CA's.
void parse_api_peers(const json& j, RoutingTable& t, FieldErrors& errors) {
  if (!j.contains("peers")) return;
  const json& peers = j["peers"];
  if (!peers.is_array() || peers.size() > kMaxApiPeers) {
    return errors.add("peers", "expected an array of at most " + std::to_string(kMaxApiPeers) + " peers");
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    const std::string path = "peers[" + std::to_string(i) + "]";
    RouteFields f(peers[i], path, errors);
    ApiPeer p{f.string("domain"), f.string("trust_domain"), {}};
    if (!p.domain.empty() && !is_rfc1035_label(p.domain)) errors.add(path + ".domain", "expected an RFC 1035 label");
    if (!p.trust_domain.empty() && !is_spiffe_trust_domain(p.trust_domain)) {
      errors.add(path + ".trust_domain", "expected a SPIFFE trust domain");
    }
    const json* cas = peers[i].is_object() && peers[i].contains("ca_pem") ? &peers[i]["ca_pem"] : nullptr;
    if (!cas || !cas->is_array() || cas->empty() || cas->size() > kMaxApiPeerCas) {
      errors.add(path + ".ca_pem", "expected 1 to " + std::to_string(kMaxApiPeerCas) + " CA certificates");
      continue;
    }
    for (size_t c = 0; c < cas->size(); ++c) {
      auto ca = (*cas)[c].is_string() ? pki::ca_certificate_pem((*cas)[c].get<std::string>())
                                      : Result<std::string>(make_error(ErrorCode::kInvalidArgument, "not a string"));
      if (!ca) {
        errors.add(path + ".ca_pem[" + std::to_string(c) + "]", "expected one CA certificate (PEM)");
      } else {
        p.ca_pem.push_back(std::move(ca).value());
      }
    }
    t.api_peers.push_back(std::move(p));
  }
}

}  // namespace

Result<RoutingTable> parse_routes(std::string_view body) {
  auto parsed = parse_strict_json(body, {256 * 1024 * 1024, 8}, "routing table");
  if (!parsed) return make_error(ErrorCode::kInvalidArgument, "bad routing table: " + parsed.error().message);
  const json j = std::move(parsed).value();
  if (!j.is_object()) return make_error(ErrorCode::kInvalidArgument, "bad routing table: not a JSON object");
  if (!j.contains("revision") || !j["revision"].is_number_integer()) {
    return make_error(ErrorCode::kInvalidArgument, "bad routing table: revision: expected an integer");
  }
  for (const char* list : {"ingress", "egress"}) {
    if (!j.contains(list) || !j[list].is_array()) {
      return make_error(ErrorCode::kInvalidArgument, std::string("bad routing table: ") + list + ": expected an array");
    }
  }
  RoutingTable t;
  t.revision = j["revision"];
  FieldErrors errors;
  const auto& ingress = j["ingress"];
  for (size_t i = 0; i < ingress.size(); ++i) {
    const std::string path = "ingress[" + std::to_string(i) + "]";
    RouteFields f(ingress[i], path, errors);
    t.ingress.push_back({f.string("sni"), f.string("export_id"), f.string("peer"), f.host_port("target"),
                         f.boolean("proxy_protocol"), f.time("expires_at")});
    if (ingress[i].is_object() && ingress[i].contains("l7")) {
      auto rules = policy::parse_l7(ingress[i]["l7"], path + ".l7");
      if (!rules) {
        const auto& error = rules.error();
        if (error.fields.empty()) errors.add(path + ".l7", error.message);
        for (const auto& e : error.fields) errors.add(e.field, e.message);
      } else {
        t.ingress.back().l7 = std::make_shared<const policy::L7Rules>(std::move(rules).value());
        t.ingress.back().protocol = f.string("protocol");
        if (auto fits = policy::fits_protocol(*t.ingress.back().l7, t.ingress.back().protocol, path + ".protocol");
            !fits) {
          errors.add(path + ".protocol", "expected the protocol of rules like these (http, http2 or grpc)");
        }
      }
    }
  }
  const auto& egress = j["egress"];
  for (size_t i = 0; i < egress.size(); ++i) {
    RouteFields f(egress[i], "egress[" + std::to_string(i) + "]", errors);
    t.egress.push_back({f.string("import_id"), f.host_port("listen"), f.string("peer"), f.string("sni"),
                        f.host_port("ingress"), f.time("expires_at")});
  }
  parse_api_peers(j, t, errors);
  if (!errors.empty()) {
    auto fields = errors.take();
    const std::string first = fields.front().field + ": " + fields.front().message;
    return make_error(ErrorCode::kInvalidArgument, "bad routing table: " + first, std::move(fields));
  }
  t.sort();
  return t;
}

}  // namespace meshfed::gateway
