#include "meshfed/federation/catalog.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <set>

#include "meshfed/core/text.hpp"
#include "meshfed/store/repositories.hpp"

namespace meshfed::federation {

Result<CatalogView> Catalog::view(const std::string& peer, int64_t since) {
  CatalogView v;
  const int64_t now = to_unix_ms(clock_.now());
  Status st = db_.read([&]() -> Status {
    store::CatalogRepository catalog(db_);
    v.revision = catalog.revision();
    if (since <= 0 || since < catalog.floor() || since > v.revision) {
      v.full = true;
      v.exports = catalog.visible_to(peer, now);
      return {};
    }
    // A delta costs what changed, not the size of the catalog.
    v.full = false;
    const auto changed = catalog.changed_after(since);
    v.exports = catalog.visible_to(peer, now, &changed);
    std::set<std::string> upserted;
    for (const auto& e : v.exports) upserted.insert(e.id);
    for (const auto& id : changed) {
      // Only exports scoped to this peer are named in removals: others' ids never leak.
      if (!upserted.count(id) && catalog.scoped_to(id, peer)) v.removals.push_back(id);
    }
    return {};
  });
  if (!st) return st.error();
  return v;
}

Result<std::string> Catalog::full_answer(const std::string& peer, const std::string& domain,
                                         const IngressAddress& ingress) {
  const int64_t now = to_unix_ms(clock_.now());
  int64_t revision = 0;
  if (Status st = db_.read([&]() -> Status {
        revision = store::CatalogRepository(db_).revision();
        return {};
      });
      !st) {
    return st.error();
  }
  const std::string where = ingress.host + ":" + std::to_string(ingress.port);
  if (const auto it = answers_.find(peer); it != answers_.end()) {
    const KeptAnswer& kept = it->second;
    if (kept.revision == revision && kept.domain == domain && kept.ingress == where && now < kept.valid_until_ms) {
      return kept.body;
    }
    answers_.erase(it);
  }
  auto v = view(peer, 0);
  if (!v) return v.error();
  int64_t valid_until = std::numeric_limits<int64_t>::max();
  for (const auto& e : v->exports) {
    if (e.expires_at_ms) valid_until = std::min(valid_until, *e.expires_at_ms);
  }
  std::string body = catalog_json(*v, domain, ingress).dump();
  if (body.size() <= kMaxKeptAnswer) answers_[peer] = {v->revision, domain, where, valid_until, body};
  return body;
}

Status Catalog::prune(int64_t keep) {
  return db_.transaction([&]() -> Status {
    store::CatalogRepository(db_).prune(keep);
    return {};
  });
}

nlohmann::json catalog_json(const CatalogView& v, const std::string& domain, const IngressAddress& ingress) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& e : v.exports) {
    items.push_back({{"id", e.id},
                     {"alias", e.alias},
                     {"mesh", e.mesh},
                     {"service", e.service},
                     {"port", e.port},
                     {"protocol", e.protocol},
                     {"sni", e.sni},
                     {"ingress", {{"host", ingress.host}, {"port", ingress.port}}},
                     {"metrics", e.metrics},
                     {"proxy_protocol", e.proxy_protocol},
                     {"approved_at", format_rfc3339(from_unix_ms(e.approved_at_ms.value_or(0)))},
                     {"expires_at", format_rfc3339(from_unix_ms(e.expires_at_ms.value_or(0)))}});
  }
  nlohmann::json out = {{"api_version", "v1"}, {"domain", domain}, {"revision", v.revision}, {"full", v.full}};
  if (v.full) {
    out["exports"] = std::move(items);
  } else {
    out["upserts"] = std::move(items);
    out["removals"] = v.removals;
  }
  return out;
}

}  // namespace meshfed::federation
