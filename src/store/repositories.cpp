#include "meshfed/store/repositories.hpp"

#include <nlohmann/json.hpp>

#include "meshfed/core/text.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>

namespace meshfed::store {
namespace {

// A state read back from a row. One we do not know is corruption or a newer schema, never a
// default: the read fails (Database turns the exception into an error) instead of guessing.
template <typename Parse>
auto stored(Parse parse, const std::string& text, const char* what) {
  if (auto state = parse(text)) return *state;
  throw std::runtime_error(std::string("unknown ") + what + " state \"" + text + "\" in the store");
}

std::vector<std::string> json_strings(const std::string& text) {
  return nlohmann::json::parse(text).get<std::vector<std::string>>();
}

// Column 0 of every row, as text.
std::vector<std::string> first_column(Statement& s) {
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

constexpr const char* kExportColumns =
    "seq, id, mesh, service, port, protocol, zone, alias, metrics, proxy_protocol, sni, state, "
    "version, requested_by, requested_at, reason, ttl_s, pending_expires_at, decided_by, "
    "approved_at, expires_at";

}  // namespace

// The columns of kExportColumns, in that order; peers and history are loaded separately.
static ExportRecord read_export_columns(Statement& s) {
  ExportRecord e;
  e.seq = s.int64(0);
  e.id = s.text(1);
  e.mesh = s.text(2);
  e.service = s.text(3);
  e.port = s.int32(4);
  e.protocol = s.text(5);
  e.zone = s.text(6);
  e.alias = s.text(7);
  e.metrics = json_strings(s.text(8));
  e.proxy_protocol = s.int32(9) != 0;
  e.sni = s.text(10);
  e.state = stored(parse_export_state, s.text(11), "export");
  e.version = s.int64(12);
  e.requested_by = s.text(13);
  e.requested_at_ms = s.int64(14);
  e.reason = s.text(15);
  e.ttl_s = s.int64(16);
  e.pending_expires_at_ms = s.int64(17);
  if (!s.is_null(18)) e.decided_by = s.text(18);
  e.approved_at_ms = s.opt_int64(19);
  e.expires_at_ms = s.opt_int64(20);
  return e;
}

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
                "ttl_s, pending_expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
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
                "expires_at = ?, ttl_s = ? WHERE id = ?");
    s.bind(1, std::string(to_string(e.state)));
    s.bind(2, e.version);
    s.bind(3, e.decided_by);
    s.bind(4, e.approved_at_ms);
    s.bind(5, e.expires_at_ms);
    s.bind(6, e.ttl_s);
    s.bind(7, e.id);
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

namespace {

int64_t meta_number(const Reader& tx, const std::string& key) {
  Statement s(tx, "SELECT value FROM meta WHERE key = ?");
  s.bind(1, key);
  if (!s.step()) throw std::runtime_error("no " + key + " in the store's meta table");
  const int64_t value = std::stoll(s.text(0));
  return value;
}

}  // namespace

Result<int64_t> CatalogQueries::revision() {
  return guarded(tx_, "cannot read the catalog revision", [&] { return meta_number(tx_, "catalog_revision"); });
}

Result<int64_t> CatalogQueries::floor() {
  return guarded(tx_, "cannot read the catalog's floor", [&] { return meta_number(tx_, "catalog_floor"); });
}

Result<int64_t> CatalogRepository::record_change(const std::string& export_id, int64_t time_ms) {
  return guarded(tx_, "cannot record the catalog change", [&]() -> int64_t {
    const int64_t next = meta_number(tx_, "catalog_revision") + 1;
    Statement bump(tx_, "UPDATE meta SET value = ? WHERE key = 'catalog_revision'");
    bump.bind(1, std::to_string(next));
    bump.exec();
    Statement log(tx_, "INSERT INTO catalog_changes(revision, export_id, time) VALUES (?, ?, ?)");
    log.bind(1, next);
    log.bind(2, export_id);
    log.bind(3, time_ms);
    log.exec();
    return next;
  });
}

Result<std::vector<std::string>> CatalogQueries::changed_after(int64_t since) {
  return guarded(tx_, "cannot read the catalog changes", [&]() -> std::vector<std::string> {
    Statement s(tx_,
                "SELECT export_id FROM catalog_changes WHERE revision > ? GROUP BY export_id "
                "ORDER BY MIN(revision)");
    s.bind(1, since);
    return first_column(s);
  });
}

Status CatalogRepository::prune(int64_t keep) {
  return guarded(tx_, "cannot prune the catalog changes", [&]() {
    const int64_t new_floor = meta_number(tx_, "catalog_revision") - keep;
    if (new_floor <= meta_number(tx_, "catalog_floor")) return;
    Statement del(tx_, "DELETE FROM catalog_changes WHERE revision <= ?");
    del.bind(1, new_floor);
    del.exec();
    Statement f(tx_, "UPDATE meta SET value = ? WHERE key = 'catalog_floor'");
    f.bind(1, std::to_string(new_floor));
    f.exec();
  });
}

Status CatalogRepository::restart_above(int64_t revision) {
  return guarded(tx_, "cannot restart the catalog revision", [&]() {
    const std::string next = std::to_string(std::max(revision, meta_number(tx_, "catalog_revision")) + 1);
    Statement(tx_, "DELETE FROM catalog_changes").exec();
    for (const char* key : {"catalog_revision", "catalog_floor"}) {
      Statement set(tx_, "UPDATE meta SET value = ? WHERE key = ?");
      set.bind(1, next);
      set.bind(2, key);
      set.exec();
    }
  });
}

Result<std::vector<ExportRecord>> CatalogQueries::visible_to(const std::string& peer, int64_t now_ms,
                                                             const std::vector<std::string>* only) {
  return guarded(tx_, "cannot read the catalog", [&]() -> std::vector<ExportRecord> {
    // One query, no per-row history: the catalog needs neither, and it may be 100,000 rows.
    std::string sql = std::string("SELECT ") + kExportColumns +
                      " FROM exports JOIN export_peers ON export_peers.export_id = exports.id WHERE peer = ? AND "
                      "state = 'approved' AND expires_at > ?";
    if (only) sql += " AND id = ?";
    sql += " ORDER BY seq";
    Statement s(tx_, sql);
    std::vector<ExportRecord> out;
    auto run = [&](const std::string* id) {
      s.reset();
      s.bind(1, peer);
      s.bind(2, now_ms);
      if (id) s.bind(3, *id);
      while (s.step()) out.push_back(read_export_columns(s));
    };
    if (!only) {
      run(nullptr);
    } else {
      for (const auto& id : *only) run(&id);
    }
    return out;
  });
}

Result<bool> CatalogQueries::scoped_to(const std::string& export_id, const std::string& peer) {
  return guarded(tx_, "cannot read the export's scope", [&]() -> bool {
    Statement s(tx_, "SELECT 1 FROM export_peers WHERE export_id = ? AND peer = ?");
    s.bind(1, export_id);
    s.bind(2, peer);
    return s.step();
  });
}

namespace {

constexpr const char* kImportColumns =
    "seq, id, peer, export_id, alias, mesh, service, port, protocol, sni, ingress_host, ingress_port, metrics, "
    "proxy_protocol, approved_at, expires_at, state, reason, version, first_seen, last_seen, accepted, local_port";

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
      if (!s.is_null(3)) h.from = s.text(3);
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
    Statement s(tx_,
                "INSERT INTO imports(id, peer, export_id, alias, mesh, service, port, protocol, sni, ingress_host, "
                "ingress_port, metrics, proxy_protocol, approved_at, expires_at, state, reason, version, "
                "first_seen, last_seen, accepted, local_port) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET alias = excluded.alias, mesh = excluded.mesh, "
                "service = excluded.service, port = excluded.port, protocol = excluded.protocol, "
                "sni = excluded.sni, ingress_host = excluded.ingress_host, ingress_port = excluded.ingress_port, "
                "metrics = excluded.metrics, proxy_protocol = excluded.proxy_protocol, "
                "approved_at = excluded.approved_at, expires_at = excluded.expires_at, state = excluded.state, "
                "reason = excluded.reason, version = excluded.version, last_seen = excluded.last_seen, "
                "accepted = excluded.accepted, local_port = excluded.local_port");
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

Result<PeerRecord> PeerQueries::get(const std::string& domain) {
  return guarded(tx_, "cannot read the peer", [&]() -> PeerRecord {
    PeerRecord p;
    p.domain = domain;
    Statement s(tx_,
                "SELECT revision, last_success, last_error, last_error_at, quarantined_since, quarantined_by, "
                "quarantine_reason, last_refusal FROM peers WHERE domain = ?");
    s.bind(1, domain);
    if (!s.step()) return p;
    p.revision = s.int64(0);
    p.last_success_ms = s.opt_int64(1);
    p.last_error = s.is_null(2) ? "" : s.text(2);
    p.last_error_ms = s.opt_int64(3);
    p.quarantined_since_ms = s.opt_int64(4);
    p.quarantined_by = s.is_null(5) ? "" : s.text(5);
    p.quarantine_reason = s.is_null(6) ? "" : s.text(6);
    p.last_refusal = s.text(7);
    return p;
  });
}

Status PeerRepository::save(const PeerRecord& p) {
  return guarded(tx_, "cannot save the peer", [&]() {
    Statement s(
        tx_,
        "INSERT INTO peers(domain, revision, last_success, last_error, last_error_at, quarantined_since, "
        "quarantined_by, quarantine_reason, last_refusal) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(domain) DO UPDATE SET "
        "revision = excluded.revision, last_success = excluded.last_success, "
        "last_error = excluded.last_error, last_error_at = excluded.last_error_at, "
        "quarantined_since = excluded.quarantined_since, quarantined_by = excluded.quarantined_by, "
        "quarantine_reason = excluded.quarantine_reason, last_refusal = excluded.last_refusal");
    s.bind(1, p.domain);
    s.bind(2, p.revision);
    s.bind(3, p.last_success_ms);
    s.bind(4, p.last_error);
    s.bind(5, p.last_error_ms);
    s.bind(6, p.quarantined_since_ms);
    s.bind(7, p.quarantined_by);
    s.bind(8, p.quarantine_reason);
    s.bind(9, p.last_refusal);
    s.exec();
  });
}

Status ReplicaRepository::heartbeat(const ReplicaRecord& r) {
  return guarded(tx_, "cannot record the replica's heartbeat", [&]() {
    Statement(
        tx_,
        "INSERT INTO replicas(id, address, leader, last_heartbeat_ms) VALUES (?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
        "address = excluded.address, leader = excluded.leader, last_heartbeat_ms = excluded.last_heartbeat_ms")
        .bind(1, r.id)
        .bind(2, r.address)
        .bind(3, r.leader)
        .bind(4, r.last_heartbeat_ms)
        .exec();
    if (r.leader) Statement(tx_, "UPDATE replicas SET leader = 0 WHERE id <> ? AND leader <> 0").bind(1, r.id).exec();
  });
}

Result<std::vector<ReplicaRecord>> ReplicaQueries::seen_since(int64_t since_ms) {
  return guarded(tx_, "cannot read the replicas", [&]() -> std::vector<ReplicaRecord> {
    Statement s(tx_,
                "SELECT id, address, leader, last_heartbeat_ms FROM replicas WHERE last_heartbeat_ms >= ? ORDER BY id");
    s.bind(1, since_ms);
    std::vector<ReplicaRecord> out;
    while (s.step()) out.push_back({s.text(0), s.text(1), s.boolean(2), s.int64(3)});
    return out;
  });
}

namespace {

AuditQueries::Head read_head(const Reader& tx) {
  Statement s(tx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
  if (!s.step()) return {};
  return {s.int64(0), s.text(1)};
}

}  // namespace

Result<AuditQueries::Head> AuditQueries::head() {
  return guarded(tx_, "cannot read the audit log's head", [&] { return read_head(tx_); });
}

Result<audit::Entry> AuditRepository::append(audit::Entry e) {
  return guarded(tx_, "cannot append to the audit log", [&]() -> audit::Entry {
    const Head h = read_head(tx_);
    e.seq = h.seq + 1;
    e.prev_hash = h.hash;
    e.hash = audit::compute_hash(e.prev_hash, e);
    Statement s(tx_,
                "INSERT INTO audit(seq, time, actor, action, object, details, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, e.seq);
    s.bind(2, e.time);
    s.bind(3, e.actor);
    s.bind(4, e.action);
    s.bind(5, e.object);
    s.bind(6, e.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    s.bind(7, e.prev_hash);
    s.bind(8, e.hash);
    s.exec();
    return e;
  });
}

Result<audit::Entry> AuditRepository::append(TimePoint time, std::string actor, std::string action, std::string object,
                                             nlohmann::json details) {
  audit::Entry e;
  e.time = format_rfc3339(time);
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.object = std::move(object);
  e.details = std::move(details);
  return append(std::move(e));
}

static audit::Entry read_audit(Statement& s) {
  audit::Entry e;
  e.seq = s.int64(0);
  e.time = s.text(1);
  e.actor = s.text(2);
  e.action = s.text(3);
  e.object = s.text(4);
  // A row whose details were damaged must still be readable, so that verify can name it.
  e.details = nlohmann::json::parse(s.text(5), nullptr, false);
  e.prev_hash = s.text(6);
  e.hash = s.text(7);
  return e;
}

Result<std::vector<audit::Entry>> AuditQueries::list(int64_t after_seq, int limit) {
  return guarded(tx_, "cannot read the audit log", [&]() -> std::vector<audit::Entry> {
    Statement s(tx_,
                "SELECT seq, time, actor, action, object, details, prev_hash, hash FROM audit "
                "WHERE seq > ? ORDER BY seq LIMIT ?");
    s.bind(1, after_seq);
    s.bind(2, limit);
    std::vector<audit::Entry> out;
    while (s.step()) out.push_back(read_audit(s));
    return out;
  });
}

Result<std::optional<audit::Entry>> AuditQueries::get(int64_t seq) {
  return guarded(tx_, "cannot read the audit entry", [&]() -> std::optional<audit::Entry> {
    Statement s(tx_,
                "SELECT seq, time, actor, action, object, details, prev_hash, hash FROM audit "
                "WHERE seq = ?");
    s.bind(1, seq);
    if (!s.step()) return std::nullopt;
    return read_audit(s);
  });
}

Status AuditRepository::delete_through(int64_t seq) {
  return guarded(tx_, "cannot delete archived audit entries", [&]() {
    Statement s(tx_, "DELETE FROM audit WHERE seq <= ?");
    s.bind(1, seq);
    s.exec();
  });
}

}  // namespace meshfed::store
