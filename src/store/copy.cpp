#include "meshfed/store/copy.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

namespace meshfed::store {
namespace {

// Every table of the schema, parents before the tables that refer to them. A table missing here
// makes the copy refuse (StoreCopy tests compare this with the schema), so a migration that adds
// one cannot be forgotten silently.
const std::vector<std::string> kTables = {"meta",           "exports",         "export_peers",   "export_history",
                                          "audit",          "catalog_changes", "peers",          "imports",
                                          "import_history", "peerings",        "witnessed_heads"};
const std::set<std::string> kNotCopied = {"schema_migrations", "replicas", "store_health", "leader_terms"};

std::set<std::string> tables_of(const Reader& tx, bool shared) {
  Statement s(tx, shared ? "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                           "current_schema() AND table_type = 'BASE TABLE'"
                         : "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
  std::set<std::string> out;
  while (s.step()) out.insert(s.text(0));
  return out;
}

int64_t count(const Reader& tx, const std::string& table) {
  Statement s(tx, "SELECT COUNT(*) FROM " + table);
  return s.step() ? s.int64(0) : 0;
}

// Copies the rows of `table`, every value as text (both backends convert it back to the column's
// type), NULLs as NULL.
int64_t copy_table(const Reader& from, const Writer& to, const std::string& table) {
  Statement rows(from, "SELECT * FROM " + table);
  std::optional<Statement> insert;
  int64_t n = 0;
  while (rows.step()) {
    if (!insert) {
      std::string names, marks;
      for (int c = 0; c < rows.columns(); ++c) {
        names += (c ? ", " : "") + rows.column_name(c);
        marks += c ? ", ?" : "?";
      }
      insert.emplace(to, "INSERT INTO " + table + " (" + names + ") VALUES (" + marks + ")");
    }
    insert->reset();
    for (int c = 0; c < rows.columns(); ++c) {
      if (rows.is_null(c)) {
        insert->bind(c + 1, std::nullopt);
      } else {
        insert->bind(c + 1, rows.text(c));
      }
    }
    insert->exec();
    ++n;
  }
  return n;
}

// PostgreSQL's identity columns hand out the next number from a sequence that explicit inserts
// do not move: it is set past the copied rows, so no sequence number is handed out twice.
void advance_identities(const Writer& to) {
  Statement columns(to,
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND is_identity = 'YES'");
  std::vector<std::pair<std::string, std::string>> found;
  while (columns.step()) found.emplace_back(columns.text(0), columns.text(1));
  for (const auto& [table, column] : found) {
    Statement(to, "SELECT setval(pg_get_serial_sequence('" + table + "', '" + column + "'), COALESCE((SELECT MAX(" +
                      column + ") FROM " + table + "), 0) + 1, false)")
        .exec();
  }
}

}  // namespace

Result<CopyReport> copy_store(Database& from, Database& to) {
  if (from.schema_version() != to.schema_version()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "the stores have schema versions " + std::to_string(from.schema_version()) + " and " +
                          std::to_string(to.schema_version()) + "; run `meshfed store migrate` on the older first");
  }
  CopyReport report;
  // Read on one snapshot of the source (Database::read): replicas still writing to a
  // PostgreSQL source cannot tear the copy; a SQLite source is held by its state folder's lock.
  MESHFED_RETURN_IF_ERROR(from.read([&](Reader& source) -> Status {
    for (const auto& t : tables_of(source, from.shared())) {
      if (!kNotCopied.count(t) && std::find(kTables.begin(), kTables.end(), t) == kTables.end()) {
        return make_error(ErrorCode::kInternal, "this meshfed does not know how to copy table " + t);
      }
    }
    return to.transaction([&](Writer& destination) -> Status {
      for (const std::string t : {"audit", "exports", "imports", "peers"}) {
        if (const auto n = count(destination, t); n > 0) {
          return make_error(
              ErrorCode::kFailedPrecondition,
              "the destination already holds state (" + std::to_string(n) + " rows in " + t + "); a copy never merges");
        }
      }
      to.execute("DELETE FROM meta");  // the migrations' initial values, replaced by the source's
      for (const auto& t : kTables) report.rows[t] = copy_table(source, destination, t);
      if (to.shared()) advance_identities(destination);
      return {};
    });
  }));
  return report;
}

}  // namespace meshfed::store
