#include "meshfed/routing/route_builder.hpp"

#include "meshfed/store/export_repository.hpp"
#include "meshfed/store/import_repository.hpp"
#include "meshfed/store/peer_repository.hpp"

namespace meshfed::routing {

namespace {

// Peers that may be admitted: configured and not quarantined.
Result<std::set<std::string>> admitted_peers(const store::Reader& tx, const RouteInputs& inputs) {
  std::set<std::string> admitted;
  store::PeerQueries peers(tx);
  for (const auto& p : inputs.peers) {
    MESHFED_ASSIGN_OR_RETURN(const auto peer, peers.get(p));
    if (!peer.quarantined_since_ms) admitted.insert(p);
  }
  return admitted;
}

// An approved, unexpired export whose target is in the inventory: one route per admitted peer.
void append_ingress_routes(const store::ExportRecord& e, const controlplane::Inventory& inventory,
                           const std::set<std::string>& admitted, int64_t now_ms, std::vector<IngressRoute>& out) {
  if (e.state != store::ExportState::kApproved) return;
  if (!e.expires_at_ms || *e.expires_at_ms <= now_ms) return;  // the sweep will expire it
  std::shared_ptr<const policy::L7Rules> rules;
  if (e.l7) {
    // Rules that no longer read, or no longer suit the port, admit nothing rather than
    // everything (fail closed).
    auto parsed = policy::parse_l7_text(*e.l7);
    if (!parsed || !policy::fits_protocol(*parsed, e.protocol)) return;
    rules = std::make_shared<const policy::L7Rules>(std::move(parsed).value());
  }
  const auto* svc = inventory.find(e.mesh, e.service, e.zone);
  const auto* port = svc ? svc->find_port(e.port) : nullptr;
  if (!port) return;  // target missing: refused meanwhile
  const HostPort target{svc->address, static_cast<uint16_t>(port->target_port.value_or(e.port))};
  for (const auto& peer : e.peers) {
    if (!admitted.count(peer)) continue;
    out.push_back({e.sni, e.id, peer, target, e.proxy_protocol, *e.expires_at_ms, rules, rules ? e.protocol : "tcp"});
  }
}

}  // namespace

Result<RoutingTable> build_routes(store::Database& db, const controlplane::Inventory& inventory,
                                  const RouteInputs& inputs, TimePoint now) {
  RoutingTable t;
  const int64_t now_ms = to_unix_ms(now);
  MESHFED_RETURN_IF_ERROR(db.read([&](store::Reader& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(const auto admitted, admitted_peers(tx, inputs));
    if (inputs.ingress) {
      store::ExportQueries exports(tx);
      store::ExportQuery q;
      q.state = store::ExportState::kApproved;
      q.limit = 1000;
      for (;;) {
        MESHFED_ASSIGN_OR_RETURN(const auto page, exports.list(q));
        for (const auto& e : page) append_ingress_routes(e, inventory, admitted, now_ms, t.ingress);
        if (static_cast<int>(page.size()) < q.limit) break;
        q.after_seq = page.back().seq;
      }
    }
    if (inputs.egress_bind) {
      MESHFED_ASSIGN_OR_RETURN(const auto imports, store::ImportQueries(tx).in_states(
                                                       {store::ImportState::kActive, store::ImportState::kStale}));
      for (const auto& i : imports) {
        if (!i.local_port || !admitted.count(i.peer)) continue;
        t.egress.push_back({i.id,
                            {*inputs.egress_bind, static_cast<uint16_t>(*i.local_port)},
                            i.peer,
                            i.sni,
                            {i.ingress_host, static_cast<uint16_t>(i.ingress_port)},
                            i.expires_at_ms.value_or(0)});
      }
    }
    return {};
  }));
  t.api_peers = inputs.api_peers;
  t.sort();
  return t;
}

Result<std::vector<IngressRoute>> ingress_routes_of(store::Database& db, const controlplane::Inventory& inventory,
                                                    const RouteInputs& inputs, const std::set<std::string>& export_ids,
                                                    TimePoint now) {
  std::vector<IngressRoute> out;
  if (!inputs.ingress) return out;
  MESHFED_RETURN_IF_ERROR(db.read([&](store::Reader& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(const auto admitted, admitted_peers(tx, inputs));
    store::ExportQueries exports(tx);
    for (const auto& id : export_ids) {
      MESHFED_ASSIGN_OR_RETURN(const auto e, exports.get(id));
      if (e) append_ingress_routes(*e, inventory, admitted, to_unix_ms(now), out);
    }
    return {};
  }));
  return out;
}

RouteTableHolder::RouteTableHolder(int64_t first_revision) {
  auto t = std::make_shared<RoutingTable>();
  t->revision = first_revision;
  table_ = std::move(t);
}

bool RouteTableHolder::update(RoutingTable fresh) {
  MutexLock lock(mu_);
  if (fresh.same_routes(*table_)) return false;
  fresh.revision = table_->revision + 1;
  table_ = std::make_shared<const RoutingTable>(std::move(fresh));
  return true;
}

bool RouteTableHolder::replace_ingress(const std::set<std::string>& export_ids, std::vector<IngressRoute> fresh) {
  MutexLock lock(mu_);
  RoutingTable next = *table_;
  std::erase_if(next.ingress, [&](const IngressRoute& r) { return export_ids.count(r.export_id) > 0; });
  next.ingress.insert(next.ingress.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
  next.sort();
  if (next.same_routes(*table_)) return false;
  next.revision = table_->revision + 1;
  table_ = std::make_shared<const RoutingTable>(std::move(next));
  return true;
}

std::shared_ptr<const RoutingTable> RouteTableHolder::current() const {
  MutexLock lock(mu_);
  return table_;
}

}  // namespace meshfed::routing
