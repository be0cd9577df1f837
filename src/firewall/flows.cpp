#include "meshfed/firewall/flows.hpp"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "meshfed/core/text.hpp"

namespace meshfed::firewall {
std::string_view to_string(Direction d) { return d == Direction::kInbound ? "inbound" : "outbound"; }

std::string_view to_string(FlowKind k) { return k == FlowKind::kPeerApi ? "peer_api" : "gateway"; }

namespace {

bool is_v6(const std::string& addr_or_cidr) { return addr_or_cidr.find(':') != std::string::npos; }

std::string set_of(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return "{ " + out + " }";
}

std::string comment(const Flow& f) {
  std::string c =
      std::string(to_string(f.direction)) + " " + std::string(to_string(f.kind)) + " " + f.peer + ": " + f.why;
  if (!f.destination_name.empty()) c += " (" + f.destination_name + " resolved)";
  std::replace(c.begin(), c.end(), '"', '\'');
  return "comment \"" + c + "\"";
}

// One nft rule per address family that the flow's addresses use.
std::vector<std::string> rules_for(const Flow& f, Mode mode) {
  std::vector<std::string> out;
  for (const bool v6 : {false, true}) {
    std::vector<std::string> src, dst;
    for (const auto& s : f.sources)
      if (is_v6(s) == v6) src.push_back(s);
    for (const auto& d : f.destinations)
      if (is_v6(d) == v6) dst.push_back(d);
    const bool needs_src = !f.sources.empty();
    const bool needs_dst = !f.destinations.empty();
    if ((needs_src && src.empty()) || (needs_dst && dst.empty())) continue;
    if (!needs_src && !needs_dst && v6) continue;
    const std::string family = v6 ? "ip6" : "ip";
    std::string rule;
    if (needs_src) rule += family + " saddr " + set_of(src) + " ";
    if (needs_dst) rule += family + " daddr " + set_of(dst) + " ";
    rule += "tcp dport " + std::to_string(f.port) + " accept " + comment(f);
    out.push_back(rule);
  }
  (void)mode;
  return out;
}

}  // namespace

std::optional<Mode> parse_mode(const std::string& s) {
  if (s == "host" || s.empty()) return Mode::kHost;
  if (s == "router") return Mode::kRouter;
  return std::nullopt;
}

FlowSet compute_flows(const config::Config& cfg, const FlowState& state, Mode mode, const Resolver& resolve) {
  FlowSet fs;
  fs.domain = cfg.domain;
  fs.resolved_at = format_rfc3339(std::chrono::system_clock::now());
  const bool router = mode == Mode::kRouter;
  auto ours = [&](const std::string& advertise, std::string& name) -> std::vector<std::string> {
    // Router mode names our own listener by its advertised address; host mode needs no address.
    if (!router) return {};
    auto ep = config::parse_endpoint(advertise);
    if (!ep) return {};
    auto addrs = resolve(ep->host);
    if (!addrs) {
      fs.errors.push_back(addrs.error().message);
      return {};
    }
    if (addrs->front() != ep->host) name = ep->host;
    return *addrs;
  };
  if (router && cfg.source_cidrs.empty()) {
    fs.errors.push_back("source_cidrs is not set for " + cfg.domain +
                        ": router rules need where our broker and egress connect from");
  }
  const std::set<std::string> exporting(state.peers_with_approved_exports.begin(),
                                        state.peers_with_approved_exports.end());
  for (const auto& p : cfg.peers) {
    // Inbound: the peer's broker to our peer API, and its egress to our ingress for what we export to it.
    std::vector<std::pair<FlowKind, std::string>> inbound;
    if (cfg.peer_api.listen) inbound.emplace_back(FlowKind::kPeerApi, "its broker reads our catalog");
    if (cfg.gateways.ingress && exporting.count(p.domain))
      inbound.emplace_back(FlowKind::kGateway, "its egress reaches our ingress");
    for (const auto& [kind, why] : inbound) {
      if (p.source_cidrs.empty()) {
        fs.errors.push_back("peers[" + p.domain + "].source_cidrs is not set: cannot write the inbound " +
                            std::string(to_string(kind)) + " rule for " + p.domain +
                            " without opening the port to everyone");
        continue;
      }
      Flow f;
      f.direction = Direction::kInbound;
      f.kind = kind;
      f.peer = p.domain;
      f.sources = p.source_cidrs;
      const std::string advertise =
          kind == FlowKind::kPeerApi ? cfg.peer_api.advertise : cfg.gateways.ingress->advertise;
      f.destinations = ours(advertise, f.destination_name);
      f.port = kind == FlowKind::kPeerApi
                   ? (router ? config::parse_endpoint(advertise).value_or(*cfg.peer_api.listen).port
                             : cfg.peer_api.listen->port)
                   : (router ? config::parse_endpoint(advertise).value_or(cfg.gateways.ingress->listen).port
                             : cfg.gateways.ingress->listen.port);
      f.why = why;
      if (!router || !f.destinations.empty()) fs.flows.push_back(std::move(f));
    }
    // Outbound: our broker to the peer's peer API.
    std::string host;
    uint16_t port = 0;
    if (auto ep = config::parse_endpoint(p.url.substr(p.url.find("://") + 3))) {
      host = ep->host;
      port = ep->port;
    }
    auto addrs = resolve(host);
    if (!addrs) {
      fs.errors.push_back("peers[" + p.domain + "].url: " + addrs.error().message);
    } else {
      Flow f{Direction::kOutbound,
             FlowKind::kPeerApi,
             p.domain,
             router ? cfg.source_cidrs : std::vector<std::string>{},
             *addrs,
             addrs->front() != host ? host : "",
             port,
             "our broker reads its catalog"};
      fs.flows.push_back(std::move(f));
    }
  }
  // Outbound: our egress to the ingress of each peer we import from. The destination is the
  // peer's configured ingress_cidrs (its catalogs were checked against them), never an address
  // the peer named: a peer cannot open our firewall to anywhere it likes.
  std::set<std::pair<std::string, uint16_t>> seen;
  for (const auto& [peer, ep] : state.import_ingresses) {
    if (!seen.insert({peer, ep.port}).second) continue;
    const auto* p = cfg.find_peer(peer);
    if (!p) continue;
    std::vector<std::string> destinations = p->ingress_cidrs;
    std::string name;
    if (destinations.empty()) {  // the default: where the peer's url (our config) points
      const auto url = config::parse_endpoint(p->url.substr(p->url.find("://") + 3));
      auto addrs = resolve(url ? url->host : "");
      if (!addrs) {
        fs.errors.push_back("ingress of " + peer + ": " + addrs.error().message);
        continue;
      }
      destinations = *addrs;
      if (url && destinations.front() != url->host) name = url->host;
    }
    fs.flows.push_back({Direction::kOutbound, FlowKind::kGateway, peer,
                        router ? cfg.source_cidrs : std::vector<std::string>{}, destinations, name, ep.port,
                        "our egress reaches its ingress"});
  }
  return fs;
}

nlohmann::json to_json(const FlowSet& fs, Mode mode) {
  nlohmann::json flows = nlohmann::json::array();
  for (const auto& f : fs.flows) {
    flows.push_back({{"direction", to_string(f.direction)},
                     {"kind", to_string(f.kind)},
                     {"peer", f.peer},
                     {"sources", f.sources},
                     {"destinations", f.destinations},
                     {"destination_name", f.destination_name},
                     {"port", f.port},
                     {"protocol", "tcp"},
                     {"why", f.why}});
  }
  return {{"domain", fs.domain},
          {"table", "meshfed_" + fs.domain},
          {"mode", mode == Mode::kRouter ? "router" : "host"},
          {"resolved_at", fs.resolved_at},
          {"flows", flows},
          {"errors", fs.errors}};
}

Result<std::string> to_nftables(const FlowSet& fs, Mode mode) {
  if (!fs.errors.empty()) {
    std::vector<FieldError> fields;
    for (const auto& e : fs.errors) fields.push_back({"flows", e});
    return make_error(ErrorCode::kFailedPrecondition, "cannot write complete firewall rules: " + fs.errors.front(),
                      fields);
  }
  std::string out = "# meshfed firewall rules for domain " + fs.domain + " (" +
                    (mode == Mode::kRouter ? "router" : "host") + " mode)\n# host names resolved at " + fs.resolved_at +
                    "; re-run meshfed firewall when peers' addresses change\n";
  const std::string table = "meshfed_" + fs.domain;
  out += "table inet " + table + "\ndelete table inet " + table + "\n";
  out += "table inet " + table + " {\n";
  auto chain = [&](const std::string& name, const std::string& hook, const std::string& policy,
                   std::optional<Direction> direction, const std::string& tail) {
    out += "  chain " + name + " {\n    type filter hook " + hook + " priority 0; policy " + policy + ";\n";
    out += "    ct state established,related accept\n";
    // Peers that share addresses (several domains behind one NAT, or all on one host) make the
    // same match: it is accepted once, under the first flow's comment.
    std::set<std::string> matches;
    for (const auto& f : fs.flows) {
      if (direction && f.direction != *direction) continue;
      for (const auto& r : rules_for(f, mode)) {
        if (matches.insert(r.substr(0, r.find(" comment "))).second) out += "    " + r + "\n";
      }
    }
    out += tail;
    out += "  }\n";
  };
  if (mode == Mode::kRouter) {
    // A firewall between domains: only the listed flows pass.
    chain("forward", "forward", "drop", std::nullopt, "");
  } else {
    // On meshfed's hosts: the listed flows, and nobody else on meshfed's own listening ports.
    std::string closing;
    std::set<uint16_t> ports;
    for (const auto& f : fs.flows) {
      if (f.direction == Direction::kInbound) ports.insert(f.port);
    }
    for (const auto p : ports)
      closing += "    tcp dport " + std::to_string(p) + " drop comment \"meshfed: no other sources\"\n";
    chain("input", "input", "accept", Direction::kInbound, closing);
    chain("output", "output", "accept", Direction::kOutbound, "");
  }
  out += "}\n";
  return out;
}

}  // namespace meshfed::firewall

#include "meshfed/store/export_repository.hpp"
#include "meshfed/store/import_repository.hpp"

namespace meshfed::firewall {

Result<FlowState> load_flow_state(store::Database& db) {
  FlowState s;
  MESHFED_RETURN_IF_ERROR(db.read([&](store::Reader& tx) -> Status {
    std::set<std::string> peers;
    store::ExportQueries exports(tx);
    for (int64_t after = 0;;) {
      MESHFED_ASSIGN_OR_RETURN(const auto page, exports.list({store::ExportState::kApproved, after, 1000}));
      if (page.empty()) break;
      for (const auto& e : page) peers.insert(e.peers.begin(), e.peers.end());
      after = page.back().seq;
    }
    s.peers_with_approved_exports.assign(peers.begin(), peers.end());
    MESHFED_ASSIGN_OR_RETURN(const auto imports, store::ImportQueries(tx).in_states(
                                                     {store::ImportState::kActive, store::ImportState::kStale}));
    for (const auto& r : imports) {
      s.import_ingresses.push_back({r.peer, {r.ingress_host, static_cast<uint16_t>(r.ingress_port)}});
    }
    return {};
  }));
  return s;
}

}  // namespace meshfed::firewall
