#include "meshfed/gateway/routes.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <tuple>

#include "meshfed/core/clock.hpp"
#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::gateway {
namespace {

using nlohmann::json;

json host_port_json(const HostPort& hp) { return {{"host", hp.host}, {"port", hp.port}}; }

// Reads the fields of one route; `where` names it in errors ("ingress[3]").
class FieldReader {
 public:
  FieldReader(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  std::string string(const char* key) {
    const auto it = j_.find(key);
    if (it == j_.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      fail(key, "expected a non-empty string");
      return {};
    }
    return *it;
  }
  bool boolean(const char* key) {
    const auto it = j_.find(key);
    if (it == j_.end() || !it->is_boolean()) {
      fail(key, "expected true or false");
      return false;
    }
    return *it;
  }
  HostPort host_port(const char* key) {
    const auto it = j_.find(key);
    HostPort hp;
    if (it == j_.end() || !it->is_object() || !it->contains("host") || !(*it)["host"].is_string() ||
        !it->contains("port") || !(*it)["port"].is_number_unsigned() || (*it)["port"].get<uint64_t>() > 65535) {
      fail(key, "expected {host, port}");
      return hp;
    }
    hp.host = (*it)["host"];
    hp.port = (*it)["port"].get<uint16_t>();
    return hp;
  }
  int64_t time(const char* key) {
    const auto it = j_.find(key);
    std::optional<TimePoint> t;
    if (it != j_.end() && it->is_string()) t = parse_rfc3339(it->get_ref<const std::string&>());
    if (!t) {
      fail(key, "expected an RFC 3339 time");
      return 0;
    }
    return to_unix_ms(*t);
  }
  const std::optional<Error>& error() const { return error_; }

 private:
  void fail(const char* key, const std::string& what) {
    if (!error_)
      error_ = make_error(ErrorCode::kInvalidArgument, "bad routing table: " + where_ + "." + key + ": " + what);
  }
  const json& j_;
  std::string where_;
  std::optional<Error> error_;
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
}

json to_json(const RoutingTable& t) {
  json in = json::array();
  for (const auto& r : t.ingress) {
    in.push_back({{"sni", r.sni},
                  {"export_id", r.export_id},
                  {"peer", r.peer},
                  {"target", host_port_json(r.target)},
                  {"proxy_protocol", r.proxy_protocol},
                  {"expires_at", format_rfc3339(from_unix_ms(r.expires_at_ms))}});
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
  return {{"revision", t.revision}, {"ingress", std::move(in)}, {"egress", std::move(out)}};
}

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
  for (size_t i = 0; i < j["ingress"].size(); ++i) {
    FieldReader f(j["ingress"][i], "ingress[" + std::to_string(i) + "]");
    IngressRoute r{f.string("sni"),       f.string("export_id"),       f.string("peer"),
                   f.host_port("target"), f.boolean("proxy_protocol"), f.time("expires_at")};
    if (f.error()) return *f.error();
    t.ingress.push_back(std::move(r));
  }
  for (size_t i = 0; i < j["egress"].size(); ++i) {
    FieldReader f(j["egress"][i], "egress[" + std::to_string(i) + "]");
    EgressRoute r{f.string("import_id"), f.host_port("listen"),  f.string("peer"),
                  f.string("sni"),       f.host_port("ingress"), f.time("expires_at")};
    if (f.error()) return *f.error();
    t.egress.push_back(std::move(r));
  }
  t.sort();
  return t;
}

}  // namespace meshfed::gateway
