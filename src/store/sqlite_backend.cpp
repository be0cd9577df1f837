// The embedded backend: one SQLite file through SQLiteCpp.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include "backend.hpp"

namespace meshfed::store::backend {
namespace {

class SqliteCursor final : public Cursor {
 public:
  SqliteCursor(SQLite::Database& db, std::string_view sql) : s_(db, std::string(sql)) {}
  void bind_int(int i, int64_t v) override { s_.bind(i, v); }
  void bind_text(int i, const std::string& v) override { s_.bind(i, v); }
  void bind_null(int i) override { s_.bind(i); }
  bool step() override { return s_.executeStep(); }
  void reset() override {
    s_.reset();
    s_.clearBindings();
  }
  bool is_null(int col) const override { return s_.isColumnNull(col); }
  int64_t int64(int col) const override { return s_.getColumn(col).getInt64(); }
  std::string text(int col) const override { return s_.getColumn(col).getString(); }
  int columns() const override { return s_.getColumnCount(); }
  std::string column_name(int col) const override { return s_.getColumnName(col); }

 private:
  mutable SQLite::Statement s_;
};

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(const std::filesystem::path& file, bool read_only)
      : db_(file.string(), read_only ? SQLite::OPEN_READONLY : SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE),
        read_only_(read_only) {
    db_.setBusyTimeout(5000);
    if (read_only) return;
    db_.exec("PRAGMA journal_mode=WAL");
    db_.exec("PRAGMA synchronous=FULL");
    db_.exec("PRAGMA foreign_keys=ON");
  }

  std::unique_ptr<Cursor> prepare(std::string_view sql) override { return std::make_unique<SqliteCursor>(db_, sql); }
  void execute(std::string_view sql) override { db_.exec(std::string(sql)); }
  void begin() override { db_.exec("BEGIN IMMEDIATE"); }
  void commit() override { db_.exec("COMMIT"); }
  // The writer reads on its own thread between its commits; a read-only connection reads while
  // the writer commits, so its reads take a snapshot.
  void begin_read() override {
    if (read_only_) db_.exec("BEGIN");
  }
  void end_read() override {
    if (read_only_) db_.exec("COMMIT");
  }
  void rollback() noexcept override {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {  // nothing to roll back: the failure already ended the transaction
    }
  }
  std::exception_ptr fault(const std::string& what) override {
    return std::make_exception_ptr(SQLite::Exception(what, SQLITE_IOERR));
  }

  SQLite::Database& db() { return db_; }

 private:
  SQLite::Database db_;
  const bool read_only_;
};

}  // namespace

std::unique_ptr<Connection> open_sqlite(const std::filesystem::path& file, bool read_only) {
  return std::make_unique<SqliteConnection>(file, read_only);
}

void sqlite_backup(Connection& c, const std::filesystem::path& out) {
  auto& from = dynamic_cast<SqliteConnection&>(c).db();
  SQLite::Database copy(out.string(), SQLite::OPEN_READWRITE);
  sqlite3_backup* b = sqlite3_backup_init(copy.getHandle(), "main", from.getHandle(), "main");
  if (!b) throw SQLite::Exception(copy.getHandle());
  // All pages in one step: the source is read under one snapshot, so the copy is consistent.
  const int rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) throw SQLite::Exception(copy.getHandle(), rc);
  copy.exec("PRAGMA journal_mode=DELETE");  // one self-contained file
}

}  // namespace meshfed::store::backend
