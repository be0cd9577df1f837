#include "meshfed/federation/catalog_check.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>

#include "core/json_reader.hpp"
#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/policy/l7.hpp"

namespace meshfed::federation {
namespace {

using nlohmann::json;

// top level (1) > exports (2) > one export (3) > l7 (4) > http (5) > rule (6) > methods (7)
constexpr int kMaxDepth = 7;
constexpr size_t kMaxMetricPatterns = 64;
constexpr size_t kMaxMetricPatternLength = 200;
constexpr size_t kMaxHostLength = 253;
// The fields above, quoted and escaped, with room, and the L7 rules.
constexpr size_t kBytesPerExport = 16 * 1024 + policy::kMaxRulesBytes;

struct Refused {
  CatalogRefusal refusal;
};

[[noreturn]] void refuse(const std::string& reason, const std::string& message) { throw Refused{{reason, message}}; }

bool is_host_name(std::string_view h) {
  if (h.empty() || h.size() > kMaxHostLength) return false;
  for (const auto& label : split(h, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  return true;
}

// Typed reads of one export object with the shared field reader. The first problem refuses
// the whole catalog, its field named by path ("export 3.ingress.port"); the refusal reaches the
// audit log, so a wrong value is described by its kind, never quoted. Keys a newer peer adds
// are ignored.
class ExportReader {
 public:
  ExportReader(const json& e, std::string at)
      : at_(std::move(at)),
        read_(e, at_, errors_,
              ReaderRules{.unknown_keys_are_errors = false, .null_is_absent = false, .quote_values = false}) {
    refuse_on_error();
  }
  void name(std::string at) { at_ = std::move(at); }
  const std::string& at() const { return at_; }
  std::string path_of(const char* key) const { return read_.path_of(key); }

  std::string string(const char* key, size_t max_length) {
    auto s = read_.string(key, true);
    refuse_on_error();
    if (s->size() > max_length) refuse("field", at_ + ": " + key + " is longer than " + std::to_string(max_length));
    return std::move(*s);
  }
  std::string label(const char* key) {
    std::string s = string(key, 63);
    if (!is_rfc1035_label(s)) refuse("field", at_ + ": " + key + " is not an RFC 1035 label");
    return s;
  }
  int port(const char* key) {
    const auto p = read_.integer(key, 1, 65535);
    required(key, p.has_value());
    return static_cast<int>(*p);
  }
  bool boolean(const char* key) {
    const auto b = read_.boolean(key);
    required(key, b.has_value());
    return *b;
  }
  int64_t time_ms(const char* key) {
    const auto t = parse_rfc3339(string(key, 64));
    if (!t) refuse("field", at_ + ": " + key + " must be an RFC 3339 time");
    return to_unix_ms(*t);
  }
  const json& object(const char* key) { return member(key, &json::is_object, "an object"); }
  const json& array(const char* key) { return member(key, &json::is_array, "an array"); }

 private:
  void refuse_on_error() {
    if (errors_.empty()) return;
    const auto first = errors_.take().front();
    refuse("field", first.field + ": " + first.message);
  }
  void required(const char* key, bool read) {
    if (!read && errors_.empty()) errors_.add(read_.path_of(key), "required");
    refuse_on_error();
  }
  const json& member(const char* key, bool (json::*is_kind)() const noexcept, const char* kind) {
    const json* v = read_.get(key);
    if (!v || !(v->*is_kind)()) {
      errors_.add(read_.path_of(key), std::string("expected ") + kind + ", got " + (v ? read_.got(*v) : "nothing"));
    }
    refuse_on_error();
    return *v;
  }

  FieldErrors errors_;  // before the reader, which reports into it
  std::string at_;
  ObjectReader read_;
};

ImportedExport read_export(const json& e, const CatalogRules& rules, size_t index) {
  ExportReader r(e, "export " + std::to_string(index));
  ImportedExport x;
  x.id = r.label("id");
  r.name("export " + x.id);
  x.alias = r.label("alias");
  x.mesh = r.label("mesh");
  x.service = r.label("service");
  x.port = r.port("port");
  x.protocol = r.string("protocol", 16);
  if (!is_import_protocol(x.protocol)) refuse("field", r.at() + ": protocol must be one of tcp, http, http2, grpc");
  x.sni = r.string("sni", kMaxHostLength);
  if (x.sni != x.id + "." + rules.trust_domain + ".meshfed") {
    refuse("field", r.at() + ": sni must be " + x.id + "." + rules.trust_domain + ".meshfed");
  }
  ExportReader in(r.object("ingress"), r.path_of("ingress"));
  x.ingress_host = in.string("host", kMaxHostLength);
  if (!IpAddress::parse(x.ingress_host) && !is_host_name(x.ingress_host)) {
    refuse("field", r.at() + ": ingress.host is neither an IP address nor a host name");
  }
  x.ingress_port = in.port("port");
  const json& metrics = r.array("metrics");
  if (metrics.size() > kMaxMetricPatterns) {
    refuse("field", r.at() + ": metrics lists more than " + std::to_string(kMaxMetricPatterns) + " names");
  }
  for (const auto& m : metrics) {
    if (!m.is_string() || !is_metric_pattern(m.get_ref<const std::string&>())) {
      refuse("field", r.at() + ": metrics must be Prometheus metric names or prefixes ending in '*'");
    }
    x.metrics.push_back(m.get<std::string>());
  }
  x.proxy_protocol = r.boolean("proxy_protocol");
  x.approved_at_ms = r.time_ms("approved_at");
  x.expires_at_ms = r.time_ms("expires_at");
  if (e.contains("l7")) {
    auto l7 = policy::parse_l7(e["l7"], r.path_of("l7"));
    if (l7) {
      if (auto fits = policy::fits_protocol(*l7, x.protocol, r.path_of("l7")); !fits) l7 = fits.error();
    }
    if (!l7) refuse("field", r.at() + ": " + l7.error().message);
    x.l7 = policy::to_json(*l7).dump();
  }
  return x;
}

// Every export names the one ingress endpoint, and it lies inside the peer's ingress_cidrs;
// a host name counts only if everything it resolves to does.
void check_ingress(const CatalogAnswer& a, const CatalogRules& rules, const HostResolver& resolve) {
  if (a.exports.empty()) return;
  const auto& first = a.exports.front();
  for (const auto& x : a.exports) {
    if (x.ingress_host != first.ingress_host || x.ingress_port != first.ingress_port) {
      refuse("ingress", "exports name more than one ingress endpoint (" + first.ingress_host + ":" +
                            std::to_string(first.ingress_port) + " and " + x.ingress_host + ":" +
                            std::to_string(x.ingress_port) + ")");
    }
  }
  std::vector<std::string> addresses{first.ingress_host};
  if (!IpAddress::parse(first.ingress_host)) {
    auto resolved = resolve ? resolve(first.ingress_host)
                            : Result<std::vector<std::string>>(make_error(ErrorCode::kUnavailable, "no resolver"));
    if (!resolved || resolved->empty()) {
      refuse("ingress", "ingress host " + first.ingress_host + " does not resolve" +
                            (resolved ? std::string() : ": " + resolved.error().message));
    }
    addresses = *resolved;
  }
  for (const auto& text : addresses) {
    const auto ip = IpAddress::parse(text);
    if (!ip || !any_contains(rules.ingress_cidrs, *ip)) {
      std::string ranges;
      for (const auto& c : rules.ingress_cidrs) ranges += (ranges.empty() ? "" : ", ") + c.to_string();
      refuse("ingress",
             "ingress " + first.ingress_host + " (" + text + ") is outside the peer's ingress_cidrs [" + ranges + "]");
    }
  }
}

}  // namespace

size_t catalog_byte_limit(const CatalogRules& rules) {
  return 64 * 1024 + static_cast<size_t>(std::max<int64_t>(rules.max_exports, 0)) * kBytesPerExport;
}

bool is_import_protocol(std::string_view p) { return p == "tcp" || p == "http" || p == "http2" || p == "grpc"; }

bool is_metric_pattern(std::string_view m) {
  if (!m.empty() && m.back() == '*') m.remove_suffix(1);
  if (m.empty() || m.size() > kMaxMetricPatternLength) return false;
  for (size_t i = 0; i < m.size(); ++i) {
    const char c = m[i];
    const bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
                    (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

std::variant<CatalogAnswer, CatalogRefusal> check_catalog(const CatalogRules& rules, std::string_view body,
                                                          const HostResolver& resolve) {
  CatalogAnswer answer;
  std::set<std::string> listed;
  // Alias -> the export that took it. A control-plane name is made of (peer, alias): two exports
  // of one answer with one alias would claim one name, and an honest exporter never sends that.
  std::map<std::string, std::string> aliases;
  std::string top_key;
  // Exports are read into plain structs as the parser meets them and dropped from the
  // document, so a large catalog never exists twice in memory.
  bool in_list = false;  // inside the top level's "exports" or "upserts" array
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    if (event == json::parse_event_t::key && depth == 1) {
      top_key = parsed.get<std::string>();
      return true;
    }
    if (depth == 1 && (event == json::parse_event_t::array_start || event == json::parse_event_t::object_start)) {
      in_list = event == json::parse_event_t::array_start && (top_key == "exports" || top_key == "upserts");
      return true;
    }
    if (event != json::parse_event_t::object_end || depth != 2 || !in_list) return true;
    if (static_cast<int64_t>(answer.exports.size()) >= rules.max_exports) {
      refuse("count", "catalog lists more than the " + std::to_string(rules.max_exports) +
                          " exports allowed for peer " + rules.peer + " (peers[].max_exports)");
    }
    auto x = read_export(parsed, rules, answer.exports.size());
    if (!listed.insert(x.id).second) refuse("field", "export " + x.id + " is listed twice");
    if (const auto [at, fresh] = aliases.emplace(x.alias, x.id); !fresh) {
      refuse("field", "exports " + at->second + " and " + x.id + " share the alias " + x.alias);
    }
    answer.exports.push_back(std::move(x));
    return false;
  };
  try {
    auto parsed = parse_strict_json(body, {catalog_byte_limit(rules), kMaxDepth}, "catalog", on_event);
    if (!parsed) {
      const auto& m = parsed.error().message;
      const std::string reason = parsed.error().code == ErrorCode::kPayloadTooLarge ? "size"
                                 : m.find("nested deeper") != std::string::npos     ? "depth"
                                                                                    : "json";
      return CatalogRefusal{reason, m};
    }
    const json& j = *parsed;
    if (!j.is_object()) refuse("json", "catalog is not a JSON object");
    if (j.value("api_version", json()) != "v1") refuse("field", "catalog api_version is not \"v1\"");
    const auto domain = j.find("domain");
    if (domain == j.end() || !domain->is_string()) refuse("field", "catalog domain must be a string");
    if (*domain != rules.peer) {
      std::string claimed = domain->get<std::string>();
      if (claimed.size() > 63) claimed = claimed.substr(0, 60) + "...";
      refuse("domain", "catalog claims domain \"" + claimed + "\" but comes from peer " + rules.peer);
    }
    const auto revision = j.find("revision");
    if (revision == j.end() || !revision->is_number_integer() || revision->get<int64_t>() < 0) {
      refuse("field", "catalog revision must be a non-negative integer");
    }
    answer.revision = revision->get<int64_t>();
    const auto full = j.find("full");
    if (full == j.end() || !full->is_boolean()) refuse("field", "catalog full must be a boolean");
    answer.full = full->get<bool>();
    if (const auto head = j.find("audit_head"); head != j.end()) {
      auto signed_head = audit::signed_head_from_json(*head, "catalog audit_head");
      if (!signed_head) refuse("audit_head", signed_head.error().message);
      answer.audit_head = std::move(signed_head).value();
    }
    const char* list = answer.full ? "exports" : "upserts";
    if (!j.contains(list) || !j[list].is_array()) refuse("field", std::string("catalog ") + list + " must be an array");
    if (!j[list].empty()) refuse("field", std::string("catalog ") + list + " must hold export objects only");
    if (!answer.full) {
      const auto removals = j.find("removals");
      if (removals == j.end() || !removals->is_array()) refuse("field", "catalog removals must be an array");
      if (static_cast<int64_t>(removals->size()) > rules.max_exports) {
        refuse("count", "catalog removes more than " + std::to_string(rules.max_exports) + " exports");
      }
      for (const auto& r : *removals) {
        if (!r.is_string() || !is_rfc1035_label(r.get_ref<const std::string&>())) {
          refuse("field", "catalog removal is not an export id");
        }
        answer.removals.push_back(r.get<std::string>());
      }
    }
    check_ingress(answer, rules, resolve);
  } catch (const Refused& r) {
    return r.refusal;
  }
  return answer;
}

}  // namespace meshfed::federation
