#include "meshfed/federation/catalog.hpp"

#include <algorithm>
#include <limits>
#include <set>

#include <spdlog/spdlog.h>

#include "meshfed/core/text.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/catalog_repository.hpp"
#include "meshfed/store/peer_repository.hpp"

namespace meshfed::federation {

Result<PeerGlance> Catalog::glance(const std::string& peer) {
  PeerGlance g;
  const Status st = reads_.read([&](store::Reader& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(const auto record, store::PeerQueries(tx).get(peer));
    g.quarantined = record.quarantined_since_ms.has_value();
    MESHFED_ASSIGN_OR_RETURN(g.revision, store::CatalogQueries(tx).revision());
    MESHFED_ASSIGN_OR_RETURN(g.audit_head, store::AuditQueries(tx).head());
    return {};
  });
  if (!st) {
    spdlog::error("peer api: cannot read whether peer {} is quarantined: {}", peer, st.error().message);
    return make_error(ErrorCode::kUnavailable, "cannot read whether peer " + peer + " is quarantined");
  }
  return g;
}

Result<CatalogView> Catalog::view(const std::string& peer, int64_t since) {
  CatalogView v;
  const int64_t now = to_unix_ms(clock_.now());
  MESHFED_RETURN_IF_ERROR(reads_.read([&](store::Reader& tx) -> Status {
    store::CatalogQueries catalog(tx);
    MESHFED_ASSIGN_OR_RETURN(v.revision, catalog.revision());
    MESHFED_ASSIGN_OR_RETURN(const int64_t floor, catalog.floor());
    if (since <= 0 || since < floor || since > v.revision) {
      v.full = true;
      MESHFED_ASSIGN_OR_RETURN(v.exports, catalog.visible_to(peer, now));
      return {};
    }
    // A delta costs what changed, not the size of the catalog.
    v.full = false;
    MESHFED_ASSIGN_OR_RETURN(const auto changed, catalog.changed_after(since));
    MESHFED_ASSIGN_OR_RETURN(v.exports, catalog.visible_to(peer, now, &changed));
    std::set<std::string> upserted;
    for (const auto& e : v.exports) upserted.insert(e.id);
    for (const auto& id : changed) {
      if (upserted.count(id)) continue;
      // Only exports scoped to this peer are named in removals: others' ids never leak.
      MESHFED_ASSIGN_OR_RETURN(const bool scoped, catalog.scoped_to(id, peer));
      if (scoped) v.removals.push_back(id);
    }
    return {};
  }));
  return v;
}

namespace {
std::string address_of(const IngressAddress& ingress) { return ingress.host + ":" + std::to_string(ingress.port); }
}  // namespace

std::optional<std::string> Catalog::kept_answer(const std::string& peer, int64_t revision, const std::string& domain,
                                                const IngressAddress& ingress) {
  const int64_t now = to_unix_ms(clock_.now());
  MutexLock lock(mu_);
  const auto it = answers_.find(peer);
  if (it == answers_.end()) return std::nullopt;
  const KeptAnswer& kept = it->second;
  if (kept.revision == revision && kept.domain == domain && kept.ingress == address_of(ingress) &&
      now < kept.valid_until_ms) {
    return kept.body;
  }
  // One kept at a newer revision than this caller read (a build that finished meanwhile) stays.
  if (kept.revision <= revision) answers_.erase(it);
  return std::nullopt;
}

Result<std::string> Catalog::full_answer(const std::string& peer, const std::string& domain,
                                         const IngressAddress& ingress) {
  int64_t revision = 0;
  MESHFED_RETURN_IF_ERROR(reads_.read([&](store::Reader& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(revision, store::CatalogQueries(tx).revision());
    return {};
  }));
  if (auto kept = kept_answer(peer, revision, domain, ingress)) return std::move(*kept);
  MESHFED_ASSIGN_OR_RETURN(auto v, view(peer, 0));
  int64_t valid_until = std::numeric_limits<int64_t>::max();
  for (const auto& e : v.exports) {
    if (e.expires_at_ms) valid_until = std::min(valid_until, *e.expires_at_ms);
  }
  std::string body = catalog_text(v, domain, ingress);
  if (body.size() <= kMaxKeptAnswer) {
    MutexLock lock(mu_);
    // A newer answer another thread kept meanwhile stays: only an older one is replaced.
    auto& kept = answers_[peer];
    if (kept.revision <= v.revision) kept = {v.revision, domain, address_of(ingress), valid_until, body};
  }
  return body;
}

void Catalog::keep_answers_only_for(const std::set<std::string>& peers) {
  MutexLock lock(mu_);
  std::erase_if(answers_, [&](const auto& kept) { return !peers.count(kept.first); });
}

size_t Catalog::kept_answers() const {
  MutexLock lock(mu_);
  return answers_.size();
}

Status Catalog::prune(int64_t keep) {
  return db_.leader_transaction([&](store::Writer& tx) { return store::CatalogRepository(tx).prune(keep); });
}

namespace {

// A JSON string as nlohmann's dump() writes it (UTF-8 kept, control characters escaped).
void append_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append_strings(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    append_string(out, items[i]);
  }
  out += ']';
}

}  // namespace

// Written directly rather than built as a JSON document and dumped: a 100,000-export snapshot
// spent most of its time allocating and freeing the document. Keys in nlohmann's order (sorted),
// so the bytes are what its dump() of the same document gives (tests/unit/federation/catalog_test.cpp).
std::string catalog_text(const CatalogView& v, const std::string& domain, const IngressAddress& ingress) {
  std::string ingress_text = "{\"host\":";
  append_string(ingress_text, ingress.host);
  ingress_text += ",\"port\":" + std::to_string(ingress.port) + "}";
  std::string items = "[";
  items.reserve(v.exports.size() * 400);
  for (size_t i = 0; i < v.exports.size(); ++i) {
    const auto& e = v.exports[i];
    items += i ? ",{\"alias\":" : "{\"alias\":";
    append_string(items, e.alias);
    items += ",\"approved_at\":";
    append_string(items, format_rfc3339(from_unix_ms(e.approved_at_ms.value_or(0))));
    items += ",\"expires_at\":";
    append_string(items, format_rfc3339(from_unix_ms(e.expires_at_ms.value_or(0))));
    items += ",\"id\":";
    append_string(items, e.id);
    items += ",\"ingress\":";
    items += ingress_text;
    if (e.l7) items += ",\"l7\":" + *e.l7;  // canonical JSON, as stored at the approval
    items += ",\"mesh\":";
    append_string(items, e.mesh);
    items += ",\"metrics\":";
    append_strings(items, e.metrics);
    items += ",\"port\":" + std::to_string(e.port);
    items += ",\"protocol\":";
    append_string(items, e.protocol);
    items += e.proxy_protocol ? ",\"proxy_protocol\":true" : ",\"proxy_protocol\":false";
    items += ",\"service\":";
    append_string(items, e.service);
    items += ",\"sni\":";
    append_string(items, e.sni);
    items += '}';
  }
  items += ']';
  std::string out = "{\"api_version\":\"v1\",\"domain\":";
  append_string(out, domain);
  if (v.full) {
    out += ",\"exports\":" + items + ",\"full\":true";
  } else {
    out += ",\"full\":false,\"removals\":";
    append_strings(out, v.removals);
  }
  out += ",\"revision\":" + std::to_string(v.revision);
  if (!v.full) out += ",\"upserts\":" + items;
  out += '}';
  return out;
}

}  // namespace meshfed::federation
