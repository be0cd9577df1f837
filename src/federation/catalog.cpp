#include "meshfed/federation/catalog.hpp"

#include <nlohmann/json.hpp>

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
