#include "meshfed/config/config.hpp"
#include "meshfed/core/regex.hpp"
#include "meshfed/core/strict_json.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/json_reader.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::config {
namespace {

using nlohmann::json;
constexpr int64_t kMaxSeconds = 10LL * 365 * 24 * 3600;

bool is_ip_literal(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool is_cidr(const std::string& s) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  const std::string addr = s.substr(0, slash);
  const auto bits = parse_int(std::string_view(s).substr(slash + 1));
  unsigned char buf[16];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) return bits && *bits >= 0 && *bits <= 32;
  if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) return bits && *bits >= 0 && *bits <= 128;
  return false;
}

// A "hostname:port" pair as written in advertise fields (port required, host not resolved).
bool is_host_port(const std::string& s) {
  const auto ep = parse_endpoint(s);
  return ep && !ep->host.empty() && ep->port != 0;
}

// "port 99999 is out of range 1-65535" for host:port text whose port is all digits but too
// large: said as such rather than as a malformed address.
std::optional<std::string> port_out_of_range(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == s.size()) return std::nullopt;
  const auto port = s.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  if (port.size() <= 5 && std::stoi(std::string(port)) <= 65535) return std::nullopt;
  return "port " + std::string(port) + " is out of range 1-65535 in \"" + std::string(s) + "\"";
}

class Parser {
 public:
  Parser(const Path& base, FieldErrors& errors) : base_(base), errors_(errors) {}

  Path path(ObjectReader& r, const std::string& key, bool required) {
    auto s = r.string(key, required);
    if (!s) return {};
    if (s->empty()) {
      if (required) errors_.add(r.path_of(key), "expected a file path, got \"\"");
      return {};
    }
    Path p(*s);
    return p.is_absolute() ? p : (base_ / p).lexically_normal();
  }

  std::optional<Endpoint> endpoint(ObjectReader& r, const std::string& key, bool required, bool allow_empty) {
    auto s = r.string(key, required);
    if (!s) return std::nullopt;
    if (s->empty() && allow_empty) return std::nullopt;
    auto ep = parse_endpoint(*s);
    if (!ep) {
      if (auto range = port_out_of_range(*s)) {
        errors_.add(r.path_of(key), *range);
        return std::nullopt;
      }
    }
    if (!ep || !is_ip_literal(ep->host)) {
      errors_.add(r.path_of(key),
                  "expected host:port with an IP address host (e.g. "
                  "127.0.0.1:9440 or [::1]:9440), got \"" +
                      *s + "\"");
      return std::nullopt;
    }
    return ep;
  }

  Seconds seconds(ObjectReader& r, const std::string& key, Seconds def, int64_t min = 1) {
    auto n = r.integer(key, min, kMaxSeconds);
    return n ? Seconds(*n) : def;
  }

  std::vector<std::string> cidrs(ObjectReader& r, const std::string& key) {
    auto list = r.strings(key);
    if (!list) return {};
    for (size_t i = 0; i < list->size(); ++i) {
      if (!is_cidr((*list)[i])) {
        errors_.add(r.path_of(key) + "[" + std::to_string(i) + "]",
                    "expected an address range like 10.0.0.0/24, got \"" + (*list)[i] + "\"");
      }
    }
    return *list;
  }

  std::string label(ObjectReader& r, const std::string& key, bool required, std::string def) {
    auto s = r.string(key, required);
    if (!s) return def;
    if (!is_rfc1035_label(*s)) {
      errors_.add(r.path_of(key),
                  "expected an RFC 1035 label (lowercase letters, digits and '-', "
                  "starting with a letter, at most 63 characters), got \"" +
                      *s + "\"");
    }
    return *s;
  }

  Config parse(const json& root) {
    Config c;
    ObjectReader r(root, "", errors_);
    if (!r.valid()) return c;
    c.domain = label(r, "domain", true, "");
    c.trust_domain = trust_domain(r, "trust_domain", c.domain);
    c.state_dir = path(r, "state_dir", true);
    c.source_cidrs = cidrs(r, "source_cidrs");
    parse_tls(r, c.tls);
    parse_admin(r, c.admin);
    parse_peer_api(r, c.peer_api);
    parse_peers(r, c);
    parse_exports(r, c.exports);
    parse_control_plane(r, c.control_plane);
    parse_gateways(r, c.gateways);
    parse_metrics(r, c.metrics);
    parse_sync(r, c.sync);
    parse_retention(r, c.retention);
    parse_store(r, c.store);
    c.replica_id = replica_id(r);
    share_egress_ports(c);
    check_port_overlaps(c);
    return c;
  }

 private:
  static void share_egress_ports(Config& c) {
    const int64_t range = c.gateways.egress ? c.gateways.egress->ports.last - c.gateways.egress->ports.first + 1 : 0;
    const auto peers = static_cast<int64_t>(std::max<size_t>(c.peers.size(), 1));
    for (auto& p : c.peers) {
      if (p.max_egress_ports == 0) p.max_egress_ports = std::max<int64_t>(range / peers, 1);
    }
  }

  std::string trust_domain(ObjectReader& r, const std::string& key, const std::string& def) {
    auto s = r.string(key, false);
    if (!s) return def;
    if (!is_spiffe_trust_domain(*s)) {
      errors_.add(r.path_of(key),
                  "expected a SPIFFE trust domain (lowercase letters, digits, '.', "
                  "'-', '_'), got \"" +
                      *s + "\"");
    }
    return *s;
  }

  void parse_tls(ObjectReader& root, TlsFiles& tls) {
    const json* v = root.get("tls");
    if (!v) {
      errors_.add("tls", "required");
      return;
    }
    ObjectReader r(*v, "tls", errors_);
    tls.ca_file = path(r, "ca_file", true);
    tls.cert_file = path(r, "cert_file", true);
    tls.key_file = path(r, "key_file", true);
  }

  void parse_admin(ObjectReader& root, AdminConfig& admin) {
    const json* v = root.get("admin");
    if (!v) {
      errors_.add("admin", "required");
      return;
    }
    ObjectReader r(*v, "admin", errors_);
    if (auto ep = endpoint(r, "listen", false, false))
      admin.listen = *ep;
    else if (!r.has("listen"))
      admin.listen = Endpoint{"127.0.0.1", 9440};
    admin.tokens_file = path(r, "tokens_file", true);
    admin.max_connections_per_source =
        r.integer("max_connections_per_source", 1, 100000).value_or(admin.max_connections_per_source);
  }

  void parse_peer_api(ObjectReader& root, PeerApiConfig& api) {
    const json* v = root.get("peer_api");
    if (!v) return;
    ObjectReader r(*v, "peer_api", errors_);
    api.listen = endpoint(r, "listen", false, true);
    if (auto s = r.string("advertise", false)) {
      if (!is_host_port(*s)) {
        errors_.add(r.path_of("advertise"), "expected host:port, got \"" + *s + "\"");
      }
      api.advertise = *s;
    }
  }

  void parse_peers(ObjectReader& root, Config& c) {
    const json* v = root.get("peers");
    if (!v) return;
    if (!v->is_array()) {
      errors_.add("peers", "expected an array of peers, got " + describe(*v));
      return;
    }
    std::set<std::string> domains, trust_domains;
    for (size_t i = 0; i < v->size(); ++i) {
      const std::string p = "peers[" + std::to_string(i) + "]";
      ObjectReader r((*v)[i], p, errors_);
      if (!r.valid()) continue;
      PeerConfig peer;
      peer.domain = label(r, "domain", true, "");
      peer.trust_domain = trust_domain(r, "trust_domain", peer.domain);
      if (auto url = r.string("url", true)) {
        if (url->rfind("https://", 0) != 0 || !parse_endpoint(url->substr(8))) {
          errors_.add(r.path_of("url"), "expected https://host:port, got \"" + *url + "\"");
        }
        peer.url = *url;
      }
      peer.ca_file = path(r, "ca_file", true);
      if (auto pol = r.string("import_policy", false)) {
        if (*pol == "manual")
          peer.import_policy = ImportPolicy::kManual;
        else if (*pol == "auto")
          peer.import_policy = ImportPolicy::kAuto;
        else
          errors_.add(r.path_of("import_policy"), "expected \"manual\" or \"auto\", got \"" + *pol + "\"");
      }
      peer.source_cidrs = cidrs(r, "source_cidrs");
      peer.ingress_cidrs = r.has("ingress_cidrs") ? cidrs(r, "ingress_cidrs") : peer.source_cidrs;
      peer.max_exports = r.integer("max_exports", 1, 1000000).value_or(peer.max_exports);
      peer.max_egress_ports = r.integer("max_egress_ports", 1, 65535).value_or(0);
      peer.max_changes_per_minute =
          r.integer("max_changes_per_minute", 1, 100000000).value_or(peer.max_changes_per_minute);
      if (!peer.domain.empty()) {
        if (peer.domain == c.domain)
          errors_.add(r.path_of("domain"), "a peer cannot be our own domain \"" + c.domain + "\"");
        if (!domains.insert(peer.domain).second)
          errors_.add(r.path_of("domain"), "duplicate peer domain \"" + peer.domain + "\"");
      }
      if (!peer.trust_domain.empty()) {
        if (peer.trust_domain == c.trust_domain)
          errors_.add(r.path_of("trust_domain"), "a peer cannot share our trust domain \"" + c.trust_domain + "\"");
        if (!trust_domains.insert(peer.trust_domain).second)
          errors_.add(r.path_of("trust_domain"), "duplicate peer trust domain \"" + peer.trust_domain + "\"");
      }
      if (!peer.ca_file.empty() && peer.ca_file == c.tls.ca_file) {
        errors_.add(r.path_of("ca_file"), "a peer's CA bundle must be that peer's, not our own tls.ca_file");
      }
      c.peers.push_back(std::move(peer));
    }
  }

  void parse_exports(ObjectReader& root, ExportLimits& e) {
    const json* v = root.get("exports");
    if (!v) return;
    ObjectReader r(*v, "exports", errors_);
    e.default_ttl = seconds(r, "default_ttl_s", e.default_ttl);
    e.max_ttl = seconds(r, "max_ttl_s", e.max_ttl);
    e.pending_expiry = seconds(r, "pending_expiry_s", e.pending_expiry);
    if (e.default_ttl > e.max_ttl) {
      errors_.add("exports.default_ttl_s",
                  "must not exceed exports.max_ttl_s (" + std::to_string(e.max_ttl.count()) + ")");
    }
  }

  void parse_store(ObjectReader& root, StoreConfig& store) {
    const json* v = root.get("store");
    if (!v) return;
    ObjectReader r(*v, "store", errors_);
    if (!r.valid()) return;
    const auto type = r.string("type", false).value_or("sqlite");
    if (type == "sqlite") {
      store.type = StoreType::kSqlite;
    } else if (type == "postgres") {
      store.type = StoreType::kPostgres;
      store.url_file = path(r, "url_file", true);
    } else {
      errors_.add(r.path_of("type"), "expected \"sqlite\" or \"postgres\", got \"" + type + "\"");
    }
    // The read pool's connections (store/read_pool.hpp), beside the store thread's own.
    if (const auto pool = r.integer("pool_size", 1, 64)) store.pool_size = static_cast<int>(*pool);
  }

  // The host name by default: what an operator sees in GET /api/v1/replicas.
  std::string replica_id(ObjectReader& r) {
    auto id = r.string("replica_id", false);
    if (!id) {
      char host[256] = {};
      if (::gethostname(host, sizeof host - 1) != 0 || !*host) return "broker";
      return host;
    }
    bool ok = !id->empty() && id->size() <= 253;
    for (const char ch : *id)
      ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_');
    if (!ok) {
      errors_.add(r.path_of("replica_id"),
                  "expected up to 253 letters, digits, '.', '-' or '_' (a host name), got \"" + *id + "\"");
    }
    return *id;
  }

  void parse_control_plane(ObjectReader& root, ControlPlaneConfig& cp) {
    static const json kEmpty = json::object();
    const json* v = root.get("control_plane");
    ObjectReader r(v ? *v : kEmpty, "control_plane", errors_);
    if (!r.valid()) return;
    const auto type = r.string("type", false).value_or("static");
    if (type == "static") {
      cp.type = ControlPlaneType::kStatic;
      cp.static_cp.inventory_file =
          r.has("inventory_file") ? path(r, "inventory_file", true) : base_ / "inventory.json";
      cp.static_cp.imports_dir = r.has("imports_dir") ? path(r, "imports_dir", true) : base_ / "imports";
    } else if (type == "kuma") {
      cp.type = ControlPlaneType::kKuma;
      auto& k = cp.kuma;
      if (auto url = r.string("url", false)) {
        if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
          errors_.add(r.path_of("url"), "expected an http:// or https:// URL, got \"" + *url + "\"");
        }
        k.url = *url;
      }
      k.token_file = path(r, "token_file", false);
      k.ca_file = path(r, "ca_file", false);
      if (auto m = r.strings("meshes")) k.meshes = *m;
      if (auto s = r.string("import_mesh", false)) k.import_mesh = *s;
      if (auto s = r.string("ingress_service", false)) k.ingress_service = *s;
      if (auto s = r.string("ingress_spiffe_id", false)) k.ingress_spiffe_id = *s;
      if (auto s = r.string("ingress_zone", false)) k.ingress_zone = *s;
      k.poll_interval = seconds(r, "poll_interval_s", k.poll_interval);
    } else {
      errors_.add(r.path_of("type"), "expected \"static\" or \"kuma\", got \"" + type + "\"");
    }
  }

  void parse_gateways(ObjectReader& root, GatewaysConfig& g) {
    const json* v = root.get("gateways");
    if (!v) return;
    ObjectReader r(*v, "gateways", errors_);
    if (const json* in = r.get("ingress")) {
      ObjectReader ir(*in, "gateways.ingress", errors_);
      IngressConfig ic;
      ic.enabled = ir.boolean("enabled").value_or(true);
      if (auto ep = endpoint(ir, "listen", true, false)) ic.listen = *ep;
      if (auto s = ir.string("advertise", true)) {
        // Port 0 means "the port the in-process ingress bound", which only it can know.
        const auto ep = parse_endpoint(*s);
        const bool ok = ep && !ep->host.empty() && (ep->port != 0 || (ic.enabled && ic.listen.port == 0));
        if (!ok) {
          errors_.add(
              ir.path_of("advertise"),
              "expected host:port (port 0 only with an in-process ingress listening on port 0), got \"" + *s + "\"");
        }
        ic.advertise = *s;
      }
      ic.cert_file = path(ir, "cert_file", true);
      ic.key_file = path(ir, "key_file", true);
      parse_tuning(ir, ic.tuning, 64);
      g.ingress = ic;
    }
    if (const json* eg = r.get("egress")) {
      ObjectReader er(*eg, "gateways.egress", errors_);
      EgressConfig ec;
      ec.enabled = er.boolean("enabled").value_or(true);
      if (auto s = er.string("bind", false)) {
        if (!is_ip_literal(*s)) errors_.add(er.path_of("bind"), "expected an IP address, got \"" + *s + "\"");
        ec.bind = *s;
      }
      if (auto s = er.string("advertise_host", true)) ec.advertise_host = *s;
      if (auto s = er.string("ports", false)) {
        const auto parts = split(*s, '-');
        const auto a = parts.size() == 2 ? parse_int(parts[0]) : std::nullopt;
        const auto b = parts.size() == 2 ? parse_int(parts[1]) : std::nullopt;
        if (!a || !b || *a < 1 || *b > 65535 || *a > *b) {
          errors_.add(er.path_of("ports"), "expected a port range FIRST-LAST within 1-65535, got \"" + *s + "\"");
        } else {
          ec.ports = PortRange{static_cast<uint16_t>(*a), static_cast<uint16_t>(*b)};
        }
      }
      ec.cert_file = path(er, "cert_file", true);
      ec.key_file = path(er, "key_file", true);
      ec.resume_sessions = er.boolean("resume_sessions").value_or(true);
      parse_tuning(er, ec.tuning, 1000);
      g.egress = ec;
    }
  }

  void parse_tuning(ObjectReader& r, GatewayTuning& t, int64_t per_source) {
    for (auto [key, target] :
         {std::pair{"handshake_timeout_s", &t.handshake_timeout}, std::pair{"connect_timeout_s", &t.connect_timeout},
          std::pair{"idle_timeout_s", &t.idle_timeout}}) {
      if (auto v = r.integer(key, 1, 86400)) *target = Seconds(*v);
    }
    if (auto v = r.integer("max_connections", 1, 1000000)) t.max_connections = *v;
    t.max_connections_per_source = r.integer("max_connections_per_source", 0, 1000000).value_or(per_source);
    if (auto v = r.integer("max_connections_per_peer", 0, 1000000)) t.max_connections_per_peer = *v;
    if (auto v = r.integer("threads", 0, 256)) t.threads = *v;
  }

  void parse_metrics(ObjectReader& root, MetricsConfig& m) {
    const json* v = root.get("metrics");
    if (!v) return;
    ObjectReader r(*v, "metrics", errors_);
    m.listen = endpoint(r, "listen", false, true);
    if (const json* srcs = r.get("sources")) {
      if (!srcs->is_array()) {
        errors_.add("metrics.sources", "expected an array, got " + describe(*srcs));
      } else {
        for (size_t i = 0; i < srcs->size(); ++i) {
          ObjectReader sr((*srcs)[i], "metrics.sources[" + std::to_string(i) + "]", errors_);
          if (!sr.valid()) continue;
          MetricsSource s;
          if (auto url = sr.string("url", true)) {
            if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
              errors_.add(sr.path_of("url"), "expected an http:// or https:// URL, got \"" + *url + "\"");
            }
            s.url = *url;
          }
          s.interval = seconds(sr, "interval_s", s.interval);
          s.timeout = seconds(sr, "timeout_s", s.timeout);
          if (auto n = sr.integer("max_bytes", 1, int64_t{1} << 40)) s.max_bytes = static_cast<uint64_t>(*n);
          if (auto l = sr.string("service_label", false)) s.service_label = *l;
          if (auto re = sr.string("service_regex", false)) {
            s.service_regex = *re;
            if (!re->empty()) {
              auto compiled = Regex::compile(*re);
              if (!compiled) {
                errors_.add(sr.path_of("service_regex"), compiled.error().message);
              } else if (compiled->groups() == 0) {
                errors_.add(sr.path_of("service_regex"), "needs a group: its first group is the service name");
              }
            }
          }
          m.sources.push_back(std::move(s));
        }
      }
    }
    if (auto l = r.strings("label_allowlist")) m.label_allowlist = *l;
    if (auto n = r.integer("max_series_per_peer", 1, int64_t{1} << 32))
      m.max_series_per_peer = static_cast<uint64_t>(*n);
    if (auto n = r.integer("max_bytes_per_peer", 1, int64_t{1} << 40)) m.max_bytes_per_peer = static_cast<uint64_t>(*n);
    m.peer_scrape_interval = seconds(r, "peer_scrape_interval_s", m.peer_scrape_interval);
  }

  void parse_retention(ObjectReader& root, RetentionConfig& out) {
    const json* v = root.get("retention");
    if (!v) return;
    ObjectReader r(*v, "retention", errors_);
    out.withdrawn_imports_days = r.integer("withdrawn_imports_days", 1, 36500).value_or(out.withdrawn_imports_days);
    out.audit_days = r.integer("audit_days", 0, 36500).value_or(out.audit_days);
    out.audit_archive_dir = path(r, "audit_archive_dir", false);
    out.witness_days = r.integer("witness_days", 1, 365).value_or(out.witness_days);
  }

  void parse_sync(ObjectReader& root, SyncConfig& s) {
    const json* v = root.get("sync");
    if (!v) return;
    ObjectReader r(*v, "sync", errors_);
    s.wait = seconds(r, "wait_s", s.wait);
    s.stale_after = seconds(r, "stale_after_s", s.stale_after);
    s.withdraw_after = seconds(r, "withdraw_after_s", s.withdraw_after);
    if (s.withdraw_after < s.stale_after) {
      errors_.add("sync.withdraw_after_s", "must not be shorter than sync.stale_after_s");
    }
    // A healthy long-poll answers within wait_s; if that may outlast stale_after_s, imports of
    // a perfectly healthy peer would flap to stale between answers.
    if (s.wait >= s.stale_after) {
      errors_.add("sync.wait_s", "must be shorter than sync.stale_after_s (" + std::to_string(s.stale_after.count()) +
                                     "), or healthy peers would look stale between answers");
    }
  }

  // The egress port range must not collide with anything this domain listens on.
  void check_port_overlaps(const Config& c) {
    if (!c.gateways.egress) return;
    const auto range = c.gateways.egress->ports;
    auto check = [&](const std::optional<Endpoint>& ep, const std::string& key) {
      if (ep && range.contains(ep->port)) {
        errors_.add("gateways.egress.ports", "range overlaps " + key + " (" + ep->to_string() + ")");
      }
    };
    check(c.admin.listen, "admin.listen");
    check(c.peer_api.listen, "peer_api.listen");
    check(c.metrics.listen, "metrics.listen");
    if (c.gateways.ingress) check(c.gateways.ingress->listen, "gateways.ingress.listen");
  }

  Path base_;
  FieldErrors& errors_;
};

}  // namespace

std::string Endpoint::to_string() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

const PeerConfig* Config::find_peer(std::string_view domain_name) const {
  for (const auto& p : peers) {
    if (p.domain == domain_name) return &p;
  }
  return nullptr;
}

std::optional<Endpoint> parse_endpoint(std::string_view s) {
  std::string host;
  std::string_view rest;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(s.substr(1, close - 1));
    rest = s.substr(close + 1);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(s.substr(0, colon));
    if (host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6 needs brackets
    rest = s.substr(colon);
  }
  if (rest.size() < 2 || rest.front() != ':' || host.empty()) return std::nullopt;
  const auto port = parse_int(rest.substr(1));
  if (!port || *port < 0 || *port > 65535) return std::nullopt;
  return Endpoint{host, static_cast<uint16_t>(*port)};
}

namespace {

Result<Config> parse_config_with(std::string_view json_text, const Path& base_dir,
                                 const std::vector<json>& extra_peers) {
  auto parsed = parse_strict_json(json_text, {16 * 1024 * 1024, 16}, "config");
  if (!parsed)
    return make_error(ErrorCode::kInvalidArgument, "config is not valid JSON", {{"(root)", parsed.error().message}});
  json root = std::move(parsed).value();
  std::set<std::string> added;
  if (!extra_peers.empty() && root.is_object()) {
    json& peers = root["peers"];
    if (peers.is_null()) peers = json::array();
    if (peers.is_array()) {
      std::set<std::string> in_file;
      for (const auto& p : peers) {
        if (p.is_object() && p.contains("domain") && p["domain"].is_string()) in_file.insert(p["domain"]);
      }
      for (const auto& extra : extra_peers) {
        const std::string domain = extra.value("domain", std::string());
        if (in_file.count(domain)) continue;
        peers.push_back(extra);
        added.insert(domain);
      }
    }
  }
  FieldErrors errors;
  Parser parser(base_dir, errors);
  Config c = parser.parse(root);
  if (!errors.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "config is invalid", errors.take());
  }
  for (auto& peer : c.peers) peer.added_through_api = added.count(peer.domain) > 0;
  c.file_text = std::string(json_text);
  return c;
}

}  // namespace

Result<Config> parse_config(std::string_view json_text, const Path& base_dir) {
  return parse_config_with(json_text, base_dir, {});
}

Result<Config> load_config(const Path& file) { return load_config(file, {}); }

Result<Config> load_config(const Path& file, const std::vector<nlohmann::json>& extra_peers) {
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const std::string why = errno ? std::strerror(errno) : "unreadable";
    return make_error(ErrorCode::kInvalidArgument, "cannot read config file " + file.string() + ": " + why,
                      {{"(file)", "cannot read " + file.string() + ": " + why}});
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const Path abs = std::filesystem::absolute(file);
  auto c = parse_config_with(ss.str(), abs.parent_path(), extra_peers);
  if (c) c->file = abs;
  return c;
}

Result<Config> with_api_peers(const Config& running, const std::vector<nlohmann::json>& extra_peers) {
  auto c = parse_config_with(running.file_text, running.file.parent_path(), extra_peers);
  if (c) c->file = running.file;
  return c;
}

std::string format_errors(const Error& e) {
  if (e.fields.empty()) return e.message;
  std::string out;
  for (const auto& f : e.fields) out += f.field + ": " + f.message + "\n";
  return out;
}

}  // namespace meshfed::config
