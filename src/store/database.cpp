#include "meshfed/store/database.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "meshfed/core/clock.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::store {

Error store_error(const std::string& what, const std::exception& e) {
  // SQLite's own words (table names, constraint text, file paths) go to the log, not to
  // whoever asked: the client learns that the store failed, and which operation.
  const auto incident = std::to_string(to_unix_ms(SystemClock().now()));
  spdlog::error("store: {} (incident {}): {}", what, incident, escape_for_log(e.what()));
  return make_error(ErrorCode::kUnavailable, "store: " + what + "; see the broker log, incident " + incident);
}

Database::Database(std::unique_ptr<SQLite::Database> db, std::filesystem::path file)
    : db_(std::move(db)), file_(std::move(file)) {}

Database::~Database() {
  statements_.clear();  // before the connection they belong to
}

void Database::throw_injected_fault() {
  throw SQLite::Exception("injected fault at statement " + std::to_string(statements_seen_), SQLITE_IOERR);
}

SQLite::Statement& Database::cached(const std::string& sql) {
  owner_.check();
  count_statement();
  auto& slot = statements_[sql];
  if (!slot) {
    slot = std::make_unique<SQLite::Statement>(*db_, sql);
  } else {
    slot->reset();
    slot->clearBindings();
  }
  return *slot;
}

namespace {

// SQLite would create the file 0644 less the umask: audit and export data for every local user.
Status create_owner_only(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return {};
    return make_error(ErrorCode::kUnavailable, "cannot create " + file.string() + ": " + std::strerror(errno));
  }
  const bool ok = ::fchmod(fd, 0600) == 0;  // a umask like 0277 would have taken the owner's write
  ::close(fd);
  if (!ok) return make_error(ErrorCode::kUnavailable, "cannot set the mode of " + file.string());
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
  if (auto st = create_owner_only(file); !st) return st.error();
  try {
    auto raw = std::make_unique<SQLite::Database>(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw->setBusyTimeout(5000);
    raw->exec("PRAGMA journal_mode=WAL");
    raw->exec("PRAGMA synchronous=FULL");
    raw->exec("PRAGMA foreign_keys=ON");
    std::unique_ptr<Database> db(new Database(std::move(raw), file));
    if (auto st = db->migrate(migrations); !st) return st.error();
    db->owner_.release();  // opened here, used by whichever thread the application gives it
    return db;
  } catch (const std::exception& e) {
    return store_error("cannot open " + file.string(), e);
  }
}

Result<std::unique_ptr<Database>> Database::open_read_only(const std::filesystem::path& file, bool accept_older) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    return make_error(ErrorCode::kNotFound, "no store at " + file.string() + " (the broker has not started yet)");
  }
  try {
    auto raw = std::make_unique<SQLite::Database>(file.string(), SQLite::OPEN_READONLY);
    raw->setBusyTimeout(5000);
    int version = 0;
    if (raw->tableExists("schema_migrations")) {
      version = raw->execAndGet("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").getInt();
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
    std::unique_ptr<Database> db(new Database(std::move(raw), file));
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
  if (auto st = create_owner_only(out); !st) return st;
  try {
    SQLite::Database copy(out.string(), SQLite::OPEN_READWRITE);
    sqlite3_backup* b = sqlite3_backup_init(copy.getHandle(), "main", db_->getHandle(), "main");
    if (!b) throw SQLite::Exception(copy.getHandle());
    // All pages in one step: the source is read under one snapshot, so the copy is consistent.
    const int rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) throw SQLite::Exception(copy.getHandle(), rc);
    copy.exec("PRAGMA journal_mode=DELETE");  // one self-contained file
  } catch (const std::exception& e) {
    std::filesystem::remove(out, ec);
    return store_error("cannot back up " + file_.string() + " to " + out.string(), e);
  }
  return {};
}

Status Database::transaction(const std::function<Status()>& body) {
  owner_.check();
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    Status st = body();
    if (!st) return st;  // the Transaction destructor rolls back
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return store_error("transaction failed", e);
  }
}

Status Database::read(const std::function<Status()>& body) {
  owner_.check();
  try {
    return body();
  } catch (const std::exception& e) {
    return store_error("read failed", e);
  }
}

Status Database::migrate(const std::vector<Migration>& migrations) {
  db_->exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "name TEXT NOT NULL, applied_at TEXT NOT NULL)");
  int current = db_->execAndGet("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").getInt();
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
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    db_->exec(std::string(m.sql));
    SQLite::Statement ins(*db_, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)");
    ins.bind(1, static_cast<int>(*version));
    ins.bind(2, std::string(m.file));
    ins.bind(3, format_rfc3339(std::chrono::system_clock::now()));
    ins.exec();
    tx.commit();
    spdlog::info("store: applied migration {}", m.file);
    current = static_cast<int>(*version);
  }
  schema_version_ = current;
  return {};
}

}  // namespace meshfed::store
