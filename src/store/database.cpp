#include "meshfed/store/database.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <cstring>

#include "backend.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::store {

Error store_error(const std::string& what, const std::exception& e) {
  // SQLite's own words (table names, constraint text, file paths) go to the log, not to
  // whoever asked: the client learns that the store failed, and which operation.
  const auto incident = std::to_string(to_unix_ms(SystemClock().now()));
  spdlog::error("store: {} (incident {}): {}", what, incident, escape_for_log(e.what()));
  // Said so that it fits a broker (whose log is the journal) and a command (whose log line was
  // printed just above) alike.
  return make_error(ErrorCode::kUnavailable, "store: " + what + " (logged as incident " + incident + ")");
}

Error failed_operation(const Reader& tx, const char* what, const std::exception& e) {
  Error error = store_error(what, e);
  if (!tx.db_.failed_operation_) tx.db_.failed_operation_ = Database::FailedOperation{e.what(), error};
  return error;
}

Database::Database(std::unique_ptr<backend::Connection> connection, std::filesystem::path file)
    : connection_(std::move(connection)), file_(std::move(file)) {}

Database::~Database() {
  idle_.clear();  // before the connection they belong to
}

backend::Connection& Database::use() {
  owner_.check();
  if (fail_at_ > 0 && ++statements_seen_ == fail_at_) throw_injected_fault();
  return *connection_;
}

void Database::throw_injected_fault() {
  std::rethrow_exception(connection_->fault("injected fault at statement " + std::to_string(statements_seen_)));
}

void Database::execute(std::string_view sql) { use().execute(sql); }

namespace {
constexpr size_t kMaxIdleSql = 256;   // distinct statements kept
constexpr size_t kMaxIdlePerSql = 4;  // of one SQL (nested uses of the same query)
}  // namespace

std::unique_ptr<backend::Cursor> Database::check_out(const std::string& sql) {
  auto& connection = use();
  if (const auto it = idle_.find(sql); it != idle_.end() && !it->second.empty()) {
    auto cursor = std::move(it->second.back());
    it->second.pop_back();
    return cursor;
  }
  auto cursor = connection.prepare(sql);
  ++statements_prepared_;
  return cursor;
}

size_t Database::idle_statements() const {
  size_t n = 0;
  for (const auto& [sql, cursors] : idle_) n += cursors.size();
  return n;
}

void Database::check_in(std::string sql, std::unique_ptr<backend::Cursor> cursor) noexcept {
  try {
    owner_.check();
    cursor->reset();  // ends its read and clears its bindings; a statement that failed may throw
    auto it = idle_.find(sql);
    if (it == idle_.end()) {
      if (idle_.size() >= kMaxIdleSql) return;
      it = idle_.emplace(std::move(sql), std::vector<std::unique_ptr<backend::Cursor>>{}).first;
    }
    if (it->second.size() < kMaxIdlePerSql) it->second.push_back(std::move(cursor));
  } catch (...) {  // not kept: finalized as it goes
  }
}

Statement::Statement(const Reader& tx, std::string_view sql) : db_(&tx.db_), sql_(sql), cursor_(db_->check_out(sql_)) {}
Statement::~Statement() {
  if (cursor_) db_->check_in(std::move(sql_), std::move(cursor_));
}
Statement::Statement(Statement&&) noexcept = default;
Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (cursor_) db_->check_in(std::move(sql_), std::move(cursor_));
    db_ = other.db_;
    sql_ = std::move(other.sql_);
    cursor_ = std::move(other.cursor_);
  }
  return *this;
}

Statement& Statement::bind(int i, int64_t v) {
  cursor_->bind_int(i, v);
  return *this;
}
Statement& Statement::bind(int i, const std::string& v) {
  cursor_->bind_text(i, v);
  return *this;
}
Statement& Statement::bind(int i, std::nullopt_t) {
  cursor_->bind_null(i);
  return *this;
}
bool Statement::step() { return cursor_->step(); }
void Statement::exec() {
  while (cursor_->step()) {
  }
}
void Statement::reset() { cursor_->reset(); }
bool Statement::is_null(int col) const { return cursor_->is_null(col); }
int64_t Statement::int64(int col) const { return cursor_->int64(col); }
std::string Statement::text(int col) const { return cursor_->text(col); }
int Statement::columns() const { return cursor_->columns(); }
std::string Statement::column_name(int col) const { return cursor_->column_name(col); }
std::optional<int64_t> Statement::opt_int64(int col) const {
  return is_null(col) ? std::nullopt : std::optional<int64_t>(int64(col));
}

namespace {

// SQLite would create the file 0644 less the umask: audit and export data for every local user.
Status create_owner_only(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return {};
    return make_error(ErrorCode::kInternal, "cannot create " + file.string() + ": " + std::strerror(errno));
  }
  const bool ok = ::fchmod(fd, 0600) == 0;  // a umask like 0277 would have taken the owner's write
  ::close(fd);
  if (!ok) return make_error(ErrorCode::kInternal, "cannot set the mode of " + file.string());
  return {};
}

int newest_known_version(const std::vector<Migration>& migrations) {
  int newest = 0;
  for (const auto& m : migrations)
    newest = std::max(newest, static_cast<int>(parse_int(m.file.substr(0, 4)).value_or(0)));
  return newest;
}

}  // namespace

Result<std::unique_ptr<Database>> Database::open(const std::filesystem::path& file,
                                                 const std::vector<Migration>& migrations) {
  MESHFED_RETURN_IF_ERROR(create_owner_only(file));
  try {
    std::unique_ptr<Database> db(new Database(backend::open_sqlite(file, /*read_only=*/false), file));
    // A store with damaged pages must not start and answer 503 to every write: it is refused
    // here, naming the file and the first problem (meshfed store check lists them all).
    MESHFED_ASSIGN_OR_RETURN(auto problems, db->check_integrity(/*full=*/false, 10));
    if (!problems.empty()) {
      return make_error(ErrorCode::kInternal,
                        "store " + file.string() + " fails its integrity check (" + problems.front() + ", " +
                            std::to_string(problems.size()) +
                            " problem(s)); `meshfed store check --config FILE` lists them; restore a backup "
                            "(`meshfed restore`)");
    }
    MESHFED_RETURN_IF_ERROR(db->migrate(migrations));
    db->owner_.release();  // opened here, used by whichever thread the application gives it
    return db;
  } catch (const std::exception& e) {
    return store_error("cannot open " + file.string(), e);
  }
}

// Migrations run under this session lock, so that replicas starting together apply each once.
constexpr const char* kMigrationLock = "SELECT pg_advisory_lock(7235841093125160039)";
constexpr const char* kMigrationUnlock = "SELECT pg_advisory_unlock(7235841093125160039)";

Result<std::unique_ptr<Database>> Database::open_postgres(const std::string& conninfo,
                                                          const std::vector<Migration>& migrations) {
  try {
    std::unique_ptr<Database> db(new Database(backend::open_postgres(conninfo), "PostgreSQL"));
    db->shared_ = true;
    db->connection_->execute(kMigrationLock);
    auto st = db->migrate(migrations);
    db->connection_->execute(kMigrationUnlock);
    if (!st) return st.error();
    db->owner_.release();
    return db;
  } catch (const std::exception& e) {
    return store_error("cannot open the PostgreSQL store", e);
  }
}

namespace {

int64_t scalar(const Reader& tx, std::string_view sql) {
  Statement s(tx, sql);
  return s.step() && !s.is_null(0) ? s.int64(0) : 0;
}

}  // namespace

Result<std::unique_ptr<Database>> Database::open_read_only(const std::filesystem::path& file, bool accept_older) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    return make_error(ErrorCode::kNotFound, "no store at " + file.string() + " (the broker has not started yet)");
  }
  try {
    std::unique_ptr<Database> db(new Database(backend::open_sqlite(file, /*read_only=*/true), file));
    int version = 0;
    const Reader tx(*db);
    if (scalar(tx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'") > 0) {
      version = static_cast<int>(scalar(tx, "SELECT MAX(version) FROM schema_migrations"));
    }
    const int known = newest_known_version(embedded_migrations());
    if (version == 0) {
      return make_error(ErrorCode::kFailedPrecondition, file.string() + " is not a meshfed store (no schema version)");
    }
    if (version > known || (version < known && !accept_older)) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "store " + file.string() + " has schema version " + std::to_string(version) +
                            ", this meshfed " + (version > known ? "is older" : "is newer") + " (" +
                            std::to_string(known) +
                            "); run the matching meshfed, or start the broker once to migrate it");
    }
    db->schema_version_ = version;
    db->owner_.release();
    return db;
  } catch (const std::exception& e) {
    return store_error("cannot open " + file.string(), e);
  }
}

Status Database::backup_to(const std::filesystem::path& out) {
  owner_.check();
  std::error_code ec;
  if (std::filesystem::exists(out, ec)) {
    return make_error(ErrorCode::kAlreadyExists, out.string() + " exists; a backup never overwrites a file");
  }
  MESHFED_RETURN_IF_ERROR(create_owner_only(out));
  try {
    backend::sqlite_backup(*connection_, out);
  } catch (const std::exception& e) {
    std::filesystem::remove(out, ec);
    return store_error("cannot back up " + file_.string() + " to " + out.string(), e);
  }
  return {};
}

Status Database::transaction(const std::function<Status(Writer&)>& body) {
  owner_.check();
  bool open = false;
  try {
    connection_->begin();
    open = in_transaction_ = true;
    failed_operation_.reset();
    Writer tx(*this);
    Status st = settle(body(tx));
    in_transaction_ = false;
    if (!st) {
      connection_->rollback();
      return st;
    }
    if (std::exchange(fail_commit_, false)) {
      std::rethrow_exception(connection_->fault("injected fault at commit"));
    }
    connection_->commit();  // a COMMIT that fails may leave the transaction open: rolled back below
    write_failure_.reset();
    return {};
  } catch (const std::exception& e) {
    in_transaction_ = false;
    if (open) connection_->rollback();  // a no-op when the failure already ended it
    write_failure_ = e.what();
    return store_error("transaction failed", e);
  }
}

Status Database::settle(Status body_status) {
  if (!failed_operation_) return body_status;  // a business rule's refusal is no write failure
  FailedOperation failed = *std::exchange(failed_operation_, std::nullopt);
  write_failure_ = std::move(failed.cause);
  if (body_status) return failed.error;
  return body_status;
}

Status Database::leader_transaction(const std::function<Status(Writer&)>& body) {
  if (!leader_term_) return transaction(body);
  return transaction([&](Writer& tx) -> Status {
    const auto mine = leader_term_();
    if (!mine) return make_error(ErrorCode::kUnavailable, "this replica does not lead its domain");
    MESHFED_ASSIGN_OR_RETURN(const int64_t current, guarded(tx, "cannot read the leadership term", [&] {
                               Statement newest(tx, "SELECT COALESCE(MAX(term), 0) FROM leader_terms");
                               newest.step();
                               return newest.int64(0);
                             }));
    if (current != *mine) {
      return make_error(ErrorCode::kUnavailable, "this replica's leadership term " + std::to_string(*mine) +
                                                     " has ended (term " + std::to_string(current) + " is current)");
    }
    return body(tx);
  });
}

Status Database::read(const std::function<Status(Reader&)>& body) {
  owner_.check();
  const bool snapshot = !in_transaction_;
  bool open = false;
  try {
    if (snapshot) {
      connection_->begin_read();
      open = in_transaction_ = true;
    }
    Reader tx(*this);
    Status st = body(tx);
    if (snapshot) {
      in_transaction_ = false;
      connection_->end_read();
    }
    return st;
  } catch (const std::exception& e) {
    if (snapshot) in_transaction_ = false;
    if (open) connection_->rollback();
    return store_error("read failed", e);
  }
}

Status Database::autocommit(const std::function<Status(Writer&)>& body) {
  owner_.check();
  try {
    failed_operation_.reset();
    Writer tx(*this);
    Status st = body(tx);
    if (!failed_operation_) write_failure_.reset();
    return settle(std::move(st));
  } catch (const std::exception& e) {
    write_failure_ = e.what();
    return store_error("write failed", e);
  }
}

Status Database::probe_write() {
  return transaction([&](Writer& tx) {
    return guarded(tx, "cannot write the store's health probe", [&] {
      Statement(tx,
                "INSERT INTO store_health(id, probes) VALUES (1, 1) ON CONFLICT(id) DO UPDATE SET probes = "
                "store_health.probes + 1")
          .exec();
    });
  });
}

Result<std::vector<std::string>> Database::check_integrity(bool full, int max_problems) {
  owner_.check();
  std::vector<std::string> problems;
  const Reader tx(*this);
  auto collect = [&](const std::string& sql, const std::function<std::string(Statement&)>& problem_of) {
    Statement s(tx, sql);
    while (static_cast<int>(problems.size()) < max_problems && s.step()) {
      if (auto p = problem_of(s); !p.empty()) problems.push_back(std::move(p));
    }
  };
  try {
    if (!shared_) {
      // A page too damaged for the check to walk makes it throw (SQLITE_CORRUPT): that is a
      // finding too, not a failure to check.
      try {
        const std::string limit = std::to_string(max_problems);
        collect(std::string(full ? "PRAGMA integrity_check(" : "PRAGMA quick_check(") + limit + ")",
                [](Statement& s) { return s.text(0) == "ok" ? std::string() : s.text(0); });
        if (full) {
          collect("PRAGMA foreign_key_check", [](Statement& s) {
            return "table " + s.text(0) + " row " + std::to_string(s.int64(1)) + " refers to a missing " + s.text(2) +
                   " row";
          });
        }
      } catch (const std::exception& e) {
        problems.emplace_back(e.what());
      }
      return problems;
    }
    // PostgreSQL checks its own pages as it reads them: read every table whole.
    std::vector<std::string> tables;
    collect(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND "
        "table_type = 'BASE TABLE' ORDER BY table_name",
        [&](Statement& s) {
          tables.push_back(s.text(0));
          return std::string();
        });
    for (const auto& t : tables) {
      if (static_cast<int>(problems.size()) >= max_problems) break;
      std::string quoted;
      for (const char c : t) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      const Status st = read([&](Reader& table_read) -> Status {
        Statement(table_read, "SELECT COUNT(*) FROM \"" + quoted + "\"").step();
        return {};
      });
      if (!st) problems.push_back("table " + t + ": " + st.error().message);
    }
    return problems;
  } catch (const std::exception& e) {
    return store_error("integrity check failed", e);
  }
}

Status Database::migrate(const std::vector<Migration>& migrations) {
  connection_->execute(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "name TEXT NOT NULL, applied_at TEXT NOT NULL)");
  const Writer tx(*this);  // each migration below runs in its own transaction
  int current = static_cast<int>(scalar(tx, "SELECT MAX(version) FROM schema_migrations"));
  const int newest_known = newest_known_version(migrations);
  if (current > newest_known) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "store " + file_.string() + " has schema version " + std::to_string(current) +
                          ", newer than this meshfed knows (" + std::to_string(newest_known) +
                          "); refusing to open it. Run the newer meshfed or restore a backup.");
  }
  for (const auto& m : migrations) {
    const auto version = parse_int(m.file.substr(0, 4));
    if (!version || *version <= 0) {
      return make_error(ErrorCode::kInternal, "bad migration file name " + std::string(m.file));
    }
    if (*version <= current) continue;
    // Each migration in its own transaction: a failed one leaves the schema as it was.
    connection_->begin();
    try {
      connection_->execute(m.sql);
      Statement ins(tx, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)");
      ins.bind(1, *version).bind(2, std::string(m.file)).bind(3, format_rfc3339(std::chrono::system_clock::now()));
      ins.exec();
      connection_->commit();
    } catch (...) {
      connection_->rollback();
      throw;
    }
    spdlog::info("store: applied migration {}", m.file);
    current = static_cast<int>(*version);
  }
  schema_version_ = current;
  return {};
}

}  // namespace meshfed::store
