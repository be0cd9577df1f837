#include "meshfed/store/import_repository.hpp"

#include <nlohmann/json.hpp>

#include "store/rows.hpp"

namespace meshfed::store {

using rows::first_column;
using rows::json_strings;
using rows::stored;

namespace {

constexpr const char* kImportColumns =
    "seq, id, peer, export_id, alias, mesh, service, port, protocol, sni, ingress_host, ingress_port, metrics, "
    "proxy_protocol, approved_at, expires_at, state, reason, version, first_seen, last_seen, accepted, local_port, l7";

ImportRecord read_import(Statement& s) {
  ImportRecord r;
  r.seq = s.int64(0);
  r.id = s.text(1);
  r.peer = s.text(2);
  r.export_id = s.text(3);
  r.alias = s.text(4);
  r.mesh = s.text(5);
  r.service = s.text(6);
  r.port = s.int32(7);
  r.protocol = s.text(8);
  r.sni = s.text(9);
  r.ingress_host = s.text(10);
  r.ingress_port = s.int32(11);
  r.metrics = json_strings(s.text(12));
  r.proxy_protocol = s.int32(13) != 0;
  r.approved_at_ms = s.opt_int64(14);
  r.expires_at_ms = s.opt_int64(15);
  r.state = stored(parse_import_state, s.text(16), "import");
  r.reason = s.text(17);
  r.version = s.int64(18);
  r.first_seen_ms = s.int64(19);
  r.last_seen_ms = s.int64(20);
  r.accepted = s.int32(21) != 0;
  if (!s.is_null(22)) r.local_port = s.int32(22);
  r.l7 = s.opt_text(23);
  return r;
}

// "state IN (?,?)" for `states`, and its binding from parameter `first` on.
std::string state_in(const std::vector<ImportState>& states) {
  std::string in;
  for (size_t i = 0; i < states.size(); ++i) in += i ? ",?" : "?";
  return "state IN (" + in + ")";
}
void bind_states(Statement& s, int first, const std::vector<ImportState>& states) {
  for (size_t i = 0; i < states.size(); ++i) s.bind(first + static_cast<int>(i), std::string(to_string(states[i])));
}

std::vector<ImportRecord> query_imports(const Reader& tx, const std::string& where,
                                        const std::function<void(Statement&)>& bind) {
  Statement s(tx, std::string("SELECT ") + kImportColumns + " FROM imports " + where);
  bind(s);
  std::vector<ImportRecord> out;
  while (s.step()) out.push_back(read_import(s));
  return out;
}

}  // namespace

Result<std::optional<ImportRecord>> ImportQueries::get(const std::string& id) {
  return guarded(tx_, "cannot read the import", [&]() -> std::optional<ImportRecord> {
    Statement s(tx_, std::string("SELECT ") + kImportColumns + " FROM imports WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    ImportRecord r = read_import(s);
    return r;
  });
}

Result<std::vector<ImportRecord>> ImportQueries::for_peer(const std::string& peer,
                                                          const std::vector<ImportState>& states) {
  return guarded(tx_, "cannot read the peer's imports", [&]() -> std::vector<ImportRecord> {
    return query_imports(
        tx_, "WHERE peer = ?" + (states.empty() ? std::string() : " AND " + state_in(states)) + " ORDER BY seq",
        [&](Statement& s) {
          s.bind(1, peer);
          bind_states(s, 2, states);
        });
  });
}

Result<std::vector<ImportQueries::Applied>> ImportQueries::with_egress_ports(const std::vector<ImportState>& states) {
  return guarded(tx_, "cannot read the imports holding egress ports", [&]() -> std::vector<ImportQueries::Applied> {
    Statement s(tx_, "SELECT id, peer, alias, protocol, local_port, port, state FROM imports WHERE " +
                         state_in(states) + " AND local_port IS NOT NULL ORDER BY seq");
    bind_states(s, 1, states);
    std::vector<Applied> out;
    while (s.step()) {
      out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), static_cast<int>(s.int64(4)),
                     static_cast<int>(s.int64(5)), parse_import_state(s.text(6)).value_or(ImportState::kFailed)});
    }
    return out;
  });
}

Result<std::vector<std::string>> ImportQueries::export_ids(const std::string& peer,
                                                           const std::vector<ImportState>& states) {
  return guarded(tx_, "cannot read the peer's imports", [&]() -> std::vector<std::string> {
    Statement s(tx_, "SELECT export_id FROM imports WHERE peer = ? AND " + state_in(states) + " ORDER BY seq");
    s.bind(1, peer);
    bind_states(s, 2, states);
    return first_column(s);
  });
}

Result<int64_t> ImportQueries::failed_without_port() {
  return guarded(tx_, "cannot count the failed imports", [&]() -> int64_t {
    Statement s(tx_, "SELECT COUNT(*) FROM imports WHERE state = 'failed' AND local_port IS NULL");
    return s.step() ? s.int64(0) : 0;
  });
}

Result<std::map<std::string, int64_t>> ImportQueries::count_by_state(const std::string& peer) {
  return guarded(tx_, "cannot count the peer's imports", [&]() -> std::map<std::string, int64_t> {
    Statement s(tx_, "SELECT state, COUNT(*) FROM imports WHERE peer = ? GROUP BY state");
    s.bind(1, peer);
    std::map<std::string, int64_t> out;
    while (s.step()) out[s.text(0)] = s.int64(1);
    return out;
  });
}

Result<std::set<std::string>> ImportQueries::aliases(const std::string& peer, const std::vector<ImportState>& states) {
  return guarded(tx_, "cannot read the peer's import aliases", [&]() -> std::set<std::string> {
    Statement s(tx_, "SELECT DISTINCT alias FROM imports WHERE peer = ? AND " + state_in(states));
    s.bind(1, peer);
    bind_states(s, 2, states);
    std::set<std::string> out;
    while (s.step()) out.insert(s.text(0));
    return out;
  });
}

Result<std::vector<ImportRecord>> ImportQueries::expiring(int64_t now_ms, const std::vector<ImportState>& states) {
  return guarded(tx_, "cannot read the expiring imports", [&]() -> std::vector<ImportRecord> {
    return query_imports(tx_, "WHERE " + state_in(states) + " AND expires_at <= ? ORDER BY seq", [&](Statement& s) {
      bind_states(s, 1, states);
      s.bind(static_cast<int>(states.size()) + 1, now_ms);
    });
  });
}

Result<std::vector<ImportRecord>> ImportQueries::list(int64_t after_seq, int limit) {
  return guarded(tx_, "cannot list the imports", [&]() -> std::vector<ImportRecord> {
    return query_imports(tx_, "WHERE seq > ? ORDER BY seq LIMIT ?", [&](Statement& s) {
      s.bind(1, after_seq);
      s.bind(2, limit);
    });
  });
}

Result<std::vector<ImportRecord>> ImportQueries::in_states(const std::vector<ImportState>& states) {
  return guarded(tx_, "cannot read the imports", [&]() -> std::vector<ImportRecord> {
    return query_imports(tx_, "WHERE " + state_in(states) + " ORDER BY seq",
                         [&](Statement& s) { bind_states(s, 1, states); });
  });
}

Status ImportRepository::append_history(const ImportHistoryEntry& h) {
  return guarded(tx_, "cannot append to the import's history", [&]() {
    Statement(tx_,
              "INSERT INTO import_history(import_id, n, time, actor, from_state, to_state, reason, audit_seq) "
              "VALUES (?,?,?,?,?,?,?,?)")
        .bind(1, h.import_id)
        .bind(2, h.n)
        .bind(3, h.time_ms)
        .bind(4, h.actor)
        .bind(5, h.from)
        .bind(6, h.to)
        .bind(7, h.reason)
        .bind(8, h.audit_seq)
        .exec();
    if (h.n > kImportStepsKept) {
      Statement(tx_, "DELETE FROM import_history WHERE import_id = ? AND n <= ?")
          .bind(1, h.import_id)
          .bind(2, h.n - kImportStepsKept)
          .exec();
    }
  });
}

Result<std::vector<ImportHistoryEntry>> ImportQueries::history(const std::string& import_id, int limit) {
  return guarded(tx_, "cannot read the import's history", [&]() -> std::vector<ImportHistoryEntry> {
    Statement s(
        tx_,
        "SELECT n, time, actor, from_state, to_state, reason, audit_seq FROM import_history WHERE import_id = ? "
        "ORDER BY n LIMIT ?");
    s.bind(1, import_id).bind(2, limit);
    std::vector<ImportHistoryEntry> out;
    while (s.step()) {
      ImportHistoryEntry h;
      h.import_id = import_id;
      h.n = s.int64(0);
      h.time_ms = s.int64(1);
      h.actor = s.text(2);
      h.from = s.opt_text(3);
      h.to = s.text(4);
      h.reason = s.text(5);
      h.audit_seq = s.int64(6);
      out.push_back(std::move(h));
    }
    return out;
  });
}

Result<int64_t> ImportRepository::prune_withdrawn(int64_t before_ms, int limit) {
  return guarded(tx_, "cannot prune the withdrawn imports", [&]() -> int64_t {
    std::vector<std::string> ids;
    {
      Statement s(tx_, "SELECT id FROM imports WHERE state = ? AND last_seen < ? ORDER BY last_seen LIMIT ?");
      s.bind(1, to_string(ImportState::kWithdrawn)).bind(2, before_ms).bind(3, limit);
      while (s.step()) ids.push_back(s.text(0));
    }
    for (const auto& id : ids) {
      Statement(tx_, "DELETE FROM import_history WHERE import_id = ?").bind(1, id).exec();
      Statement(tx_, "DELETE FROM imports WHERE id = ?").bind(1, id).exec();
    }
    return static_cast<int64_t>(ids.size());
  });
}

Status ImportRepository::save(const ImportRecord& r) {
  return guarded(tx_, "cannot save the import", [&]() {
    Statement s(
        tx_,
        "INSERT INTO imports(id, peer, export_id, alias, mesh, service, port, protocol, sni, ingress_host, "
        "ingress_port, metrics, proxy_protocol, approved_at, expires_at, state, reason, version, "
        "first_seen, last_seen, accepted, local_port, l7) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET alias = excluded.alias, mesh = excluded.mesh, "
        "service = excluded.service, port = excluded.port, protocol = excluded.protocol, "
        "sni = excluded.sni, ingress_host = excluded.ingress_host, ingress_port = excluded.ingress_port, "
        "metrics = excluded.metrics, proxy_protocol = excluded.proxy_protocol, "
        "approved_at = excluded.approved_at, expires_at = excluded.expires_at, state = excluded.state, "
        "reason = excluded.reason, version = excluded.version, last_seen = excluded.last_seen, "
        "accepted = excluded.accepted, local_port = excluded.local_port, l7 = excluded.l7");
    int i = 1;
    s.bind(i++, r.id);
    s.bind(i++, r.peer);
    s.bind(i++, r.export_id);
    s.bind(i++, r.alias);
    s.bind(i++, r.mesh);
    s.bind(i++, r.service);
    s.bind(i++, r.port);
    s.bind(i++, r.protocol);
    s.bind(i++, r.sni);
    s.bind(i++, r.ingress_host);
    s.bind(i++, r.ingress_port);
    s.bind(i++, nlohmann::json(r.metrics).dump());
    s.bind(i++, r.proxy_protocol ? 1 : 0);
    s.bind(i++, r.approved_at_ms);
    s.bind(i++, r.expires_at_ms);
    s.bind(i++, std::string(to_string(r.state)));
    s.bind(i++, r.reason);
    s.bind(i++, r.version);
    s.bind(i++, r.first_seen_ms);
    s.bind(i++, r.last_seen_ms);
    s.bind(i++, r.accepted ? 1 : 0);
    s.bind(i++, r.local_port);
    s.bind(i++, r.l7);
    s.exec();
  });
}

Result<std::vector<std::pair<int, std::string>>> ImportQueries::used_ports() {
  return guarded(tx_, "cannot read the egress ports in use", [&]() -> std::vector<std::pair<int, std::string>> {
    std::vector<std::pair<int, std::string>> out;
    Statement s(tx_, "SELECT local_port, peer FROM imports WHERE local_port IS NOT NULL ORDER BY local_port");
    while (s.step()) out.emplace_back(s.int32(0), s.text(1));
    return out;
  });
}

}  // namespace meshfed::store
