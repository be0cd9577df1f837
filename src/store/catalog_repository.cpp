#include "meshfed/store/catalog_repository.hpp"

#include "store/rows.hpp"

namespace meshfed::store {

using rows::first_column;
using rows::kExportColumns;
using rows::read_export_columns;

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

}  // namespace meshfed::store
