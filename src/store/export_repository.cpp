#include "meshfed/store/export_repository.hpp"

#include <nlohmann/json.hpp>

#include "store/rows.hpp"

namespace meshfed::store {

using rows::first_column;
using rows::json_strings;
using rows::kExportColumns;
using rows::read_export_columns;
using rows::stored;

ExportRecord ExportQueries::read_row(Statement& s) {
  ExportRecord e = read_export_columns(s);
  Statement peers(tx_, "SELECT peer FROM export_peers WHERE export_id = ? ORDER BY peer");
  peers.bind(1, e.id);
  while (peers.step()) e.peers.push_back(peers.text(0));

  Statement hist(tx_,
                 "SELECT time, actor, action, from_state, to_state, comment, audit_seq "
                 "FROM export_history WHERE export_id = ? ORDER BY n");
  hist.bind(1, e.id);
  while (hist.step()) {
    HistoryEntry h;
    h.time_ms = hist.int64(0);
    h.actor = hist.text(1);
    h.action = hist.text(2);
    if (!hist.is_null(3)) h.from = stored(parse_export_state, hist.text(3), "export");
    h.to = stored(parse_export_state, hist.text(4), "export");
    h.comment = hist.text(5);
    h.audit_seq = hist.int64(6);
    e.history.push_back(std::move(h));
  }
  return e;
}

Status ExportRepository::insert(const ExportRecord& e) {
  return guarded(tx_, "cannot insert the export", [&]() {
    Statement s(tx_,
                "INSERT INTO exports(id, mesh, service, port, protocol, zone, alias, metrics, "
                "proxy_protocol, sni, state, version, requested_by, requested_at, reason, "
                "ttl_s, pending_expires_at, l7) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.bind(1, e.id);
    s.bind(2, e.mesh);
    s.bind(3, e.service);
    s.bind(4, e.port);
    s.bind(5, e.protocol);
    s.bind(6, e.zone);
    s.bind(7, e.alias);
    s.bind(8, nlohmann::json(e.metrics).dump());
    s.bind(9, e.proxy_protocol ? 1 : 0);
    s.bind(10, e.sni);
    s.bind(11, std::string(to_string(e.state)));
    s.bind(12, e.version);
    s.bind(13, e.requested_by);
    s.bind(14, e.requested_at_ms);
    s.bind(15, e.reason);
    s.bind(16, e.ttl_s);
    s.bind(17, e.pending_expires_at_ms);
    s.bind(18, e.l7);
    s.exec();
    Statement p(tx_, "INSERT INTO export_peers(export_id, peer) VALUES (?, ?)");
    for (const auto& peer : e.peers) {
      p.bind(1, e.id);
      p.bind(2, peer);
      p.exec();
      p.reset();
    }
  });
}

Status ExportRepository::update(const ExportRecord& e) {
  return guarded(tx_, "cannot update the export", [&]() {
    Statement s(tx_,
                "UPDATE exports SET state = ?, version = ?, decided_by = ?, approved_at = ?, "
                "expires_at = ?, ttl_s = ?, l7 = ?, l7_change = ?, l7_change_by = ? WHERE id = ?");
    s.bind(1, std::string(to_string(e.state)));
    s.bind(2, e.version);
    s.bind(3, e.decided_by);
    s.bind(4, e.approved_at_ms);
    s.bind(5, e.expires_at_ms);
    s.bind(6, e.ttl_s);
    s.bind(7, e.l7);
    s.bind(8, e.l7_change);
    s.bind(9, e.l7_change_by);
    s.bind(10, e.id);
    s.exec();
  });
}

Status ExportRepository::append_history(const std::string& export_id, const HistoryEntry& h) {
  return guarded(tx_, "cannot append to the export's history", [&]() {
    Statement s(tx_,
                "INSERT INTO export_history(export_id, n, time, actor, action, from_state, "
                "to_state, comment, audit_seq) VALUES (?, (SELECT COALESCE(MAX(n), 0) + 1 "
                "FROM export_history WHERE export_id = ?), ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, export_id);
    s.bind(2, export_id);
    s.bind(3, h.time_ms);
    s.bind(4, h.actor);
    s.bind(5, h.action);
    if (h.from)
      s.bind(6, std::string(to_string(*h.from)));
    else
      s.bind(6, std::nullopt);
    s.bind(7, std::string(to_string(h.to)));
    s.bind(8, h.comment);
    s.bind(9, h.audit_seq);
    s.exec();
  });
}

Result<bool> ExportQueries::exists(const std::string& id) {
  return guarded(tx_, "cannot read the export", [&]() -> bool {
    Statement s(tx_, "SELECT 1 FROM exports WHERE id = ?");
    s.bind(1, id);
    return s.step();
  });
}

Result<std::optional<ExportRecord>> ExportQueries::get(const std::string& id) {
  return guarded(tx_, "cannot read the export", [&]() -> std::optional<ExportRecord> {
    Statement s(tx_, std::string("SELECT ") + kExportColumns + " FROM exports WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_row(s);
  });
}

Result<std::vector<ExportRecord>> ExportQueries::list(const ExportQuery& q) {
  return guarded(tx_, "cannot list the exports", [&]() -> std::vector<ExportRecord> {
    std::string sql = std::string("SELECT ") + kExportColumns + " FROM exports WHERE seq > ?";
    if (q.state) sql += " AND state = ?";
    sql += " ORDER BY seq LIMIT ?";
    Statement s(tx_, sql);
    int i = 1;
    s.bind(i++, q.after_seq);
    if (q.state) s.bind(i++, std::string(to_string(*q.state)));
    s.bind(i, q.limit);
    std::vector<ExportRecord> out;
    while (s.step()) out.push_back(read_row(s));
    return out;
  });
}

Result<std::vector<std::string>> ExportQueries::live_ids_with_alias(const std::string& alias, const std::string& peer) {
  return guarded(tx_, "cannot read the exports of the alias", [&]() -> std::vector<std::string> {
    Statement s(tx_,
                "SELECT e.id FROM exports e JOIN export_peers p ON p.export_id = e.id "
                "WHERE e.alias = ? AND p.peer = ? AND e.state IN ('pending', 'approved')");
    s.bind(1, alias);
    s.bind(2, peer);
    return first_column(s);
  });
}

// Each branch on its (state, deadline) index (migrations/0006_deadline_indexes.sql).
Result<std::vector<std::string>> ExportQueries::due_for_expiry(int64_t now_ms) {
  return guarded(tx_, "cannot read the exports due for expiry", [&]() -> std::vector<std::string> {
    Statement s(tx_,
                "SELECT id FROM (SELECT seq, id FROM exports WHERE state = 'pending' AND pending_expires_at <= ? "
                "UNION ALL SELECT seq, id FROM exports WHERE state = 'approved' AND expires_at <= ?) due ORDER BY seq");
    s.bind(1, now_ms);
    s.bind(2, now_ms);
    return first_column(s);
  });
}

Result<std::optional<int64_t>> ExportQueries::next_deadline() {
  return guarded(tx_, "cannot read the exports' next deadline", [&]() -> std::optional<int64_t> {
    Statement s(tx_,
                "SELECT MIN(deadline) FROM (SELECT MIN(pending_expires_at) AS deadline FROM exports WHERE state = "
                "'pending' UNION ALL SELECT MIN(expires_at) FROM exports WHERE state = 'approved') deadlines");
    if (!s.step() || s.is_null(0)) return std::nullopt;
    return s.int64(0);
  });
}

Result<std::map<std::string, int64_t>> ExportQueries::count_by_state() {
  return guarded(tx_, "cannot count the exports", [&]() -> std::map<std::string, int64_t> {
    std::map<std::string, int64_t> out;
    Statement s(tx_, "SELECT state, COUNT(*) FROM exports GROUP BY state");
    while (s.step()) out[s.text(0)] = s.int64(1);
    return out;
  });
}

Result<std::map<std::pair<std::string, std::string>, int64_t>> ExportQueries::count_by_peer_and_state() {
  return guarded(tx_, "cannot count the exports", [&]() -> std::map<std::pair<std::string, std::string>, int64_t> {
    std::map<std::pair<std::string, std::string>, int64_t> out;
    Statement s(tx_,
                "SELECT p.peer, e.state, COUNT(*) FROM export_peers p JOIN exports e ON e.id = p.export_id "
                "GROUP BY p.peer, e.state");
    while (s.step()) out[{s.text(0), s.text(1)}] = s.int64(2);
    return out;
  });
}

Result<std::vector<ExportQueries::MetricSelection>> ExportQueries::metric_selections(int64_t now_ms) {
  return guarded(
      tx_, "cannot read the exports' metric selections", [&]() -> std::vector<ExportQueries::MetricSelection> {
        Statement s(
            tx_,
            "SELECT p.peer, e.service, e.alias, e.metrics FROM exports e JOIN export_peers p ON p.export_id = e.id "
            "WHERE e.state = 'approved' AND e.metrics <> '[]' AND (e.expires_at IS NULL OR e.expires_at > ?) "
            "ORDER BY e.seq, p.peer");
        s.bind(1, now_ms);
        std::vector<MetricSelection> out;
        while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2), json_strings(s.text(3))});
        return out;
      });
}

Result<std::vector<ExportQueries::Target>> ExportQueries::approved_targets() {
  return guarded(tx_, "cannot read the approved exports' targets", [&]() -> std::vector<ExportQueries::Target> {
    Statement s(tx_,
                "SELECT mesh, service, zone, port, COUNT(*) FROM exports WHERE state = 'approved' "
                "GROUP BY mesh, service, zone, port ORDER BY mesh, service, zone, port");
    std::vector<Target> out;
    while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2), s.int64(3), s.int64(4)});
    return out;
  });
}

Result<std::vector<ExportQueries::HistoryRef>> ExportQueries::all_history_refs() {
  return guarded(tx_, "cannot read the exports' history", [&]() -> std::vector<ExportQueries::HistoryRef> {
    std::vector<HistoryRef> out;
    Statement s(tx_, "SELECT export_id, n, action, audit_seq FROM export_history ORDER BY audit_seq");
    while (s.step()) {
      out.push_back({s.text(0), s.int64(1), s.text(2), s.int64(3)});
    }
    return out;
  });
}

}  // namespace meshfed::store
