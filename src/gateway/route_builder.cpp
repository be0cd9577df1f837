#include "meshfed/gateway/route_builder.hpp"

#include "meshfed/store/repositories.hpp"

namespace meshfed::gateway {

Result<RoutingTable> build_routes(store::Database& db, const controlplane::Inventory& inventory,
                                  const RouteInputs& inputs, TimePoint now) {
  RoutingTable t;
  const int64_t now_ms = to_unix_ms(now);
  Status st = db.read([&]() -> Status {
    std::set<std::string> admitted;
    store::PeerRepository peers(db);
    for (const auto& p : inputs.peers) {
      if (!peers.get(p).quarantined_since_ms) admitted.insert(p);
    }
    if (inputs.ingress) {
      store::ExportRepository exports(db);
      store::ExportQuery q;
      q.state = store::ExportState::kApproved;
      q.limit = 1000;
      for (;;) {
        const auto page = exports.list(q);
        for (const auto& e : page) {
          if (!e.expires_at_ms || *e.expires_at_ms <= now_ms) continue;  // the sweep will expire it
          const auto* svc = inventory.find(e.mesh, e.service, e.zone);
          if (!svc || !svc->find_port(e.port)) continue;  // target missing: refused meanwhile
          for (const auto& peer : e.peers) {
            if (!admitted.count(peer)) continue;
            t.ingress.push_back({e.sni, e.id, peer, {svc->address, static_cast<uint16_t>(e.port)}, e.proxy_protocol,
                                 *e.expires_at_ms});
          }
        }
        if (static_cast<int>(page.size()) < q.limit) break;
        q.after_seq = page.back().seq;
      }
    }
    if (inputs.egress_bind) {
      for (const auto& i : store::ImportRepository(db).in_states({store::ImportState::kActive, store::ImportState::kStale})) {
        if (!i.local_port || !admitted.count(i.peer)) continue;
        t.egress.push_back({i.id, {*inputs.egress_bind, static_cast<uint16_t>(*i.local_port)}, i.peer, i.sni,
                            {i.ingress_host, static_cast<uint16_t>(i.ingress_port)}, i.expires_at_ms.value_or(0)});
      }
    }
    return {};
  });
  if (!st) return st.error();
  t.sort();
  return t;
}

RouteTableHolder::RouteTableHolder(int64_t first_revision) {
  auto t = std::make_shared<RoutingTable>();
  t->revision = first_revision;
  table_ = std::move(t);
}

bool RouteTableHolder::update(RoutingTable fresh) {
  std::lock_guard lock(mu_);
  if (fresh.same_routes(*table_)) return false;
  fresh.revision = table_->revision + 1;
  table_ = std::make_shared<const RoutingTable>(std::move(fresh));
  return true;
}

std::shared_ptr<const RoutingTable> RouteTableHolder::current() const {
  std::lock_guard lock(mu_);
  return table_;
}

}  // namespace meshfed::gateway
