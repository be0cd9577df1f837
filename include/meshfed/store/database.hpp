// The broker's store: a connection to its backend (today the SQLite file, opened in WAL mode
// with synchronous=FULL, so whatever a response acknowledges survives power loss; foreign keys
// on), with the schema brought up to date from the embedded migrations. Statements
// (statement.hpp) run on it; the backend behind it is the store module's own business.
//
// Not thread-safe by design: the application gives it one thread (the store executor), and
// every use checks that (ThreadOwner): a second thread aborts the process instead of racing.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "meshfed/core/result.hpp"
#include "meshfed/core/thread_owner.hpp"
#include "meshfed/store/migrations.hpp"

#include "meshfed/store/statement.hpp"

namespace meshfed::store {

namespace backend {
class Connection;
}

class Database;

// Proof that the caller runs inside a read of the store (Reader) or one of its write
// transactions (Writer, which reads too, on the snapshot it is about to change). Only
// Database's read(), transaction(), leader_transaction() and autocommit() and ReadPool::read()
// make them, for the length of the body they run; repositories (`*_repository.hpp`) take one, so
// a statement outside a transaction, or a write inside a read, does not compile.
class Reader {
 public:
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

 private:
  friend class Database;
  friend class Statement;
  friend class Writer;
  friend Error failed_operation(const Reader& tx, const char* what, const std::exception& e);
  explicit Reader(Database& db) : db_(db) {}
  Database& db_;
};

class Writer : public Reader {
 private:
  friend class Database;
  explicit Writer(Database& db) : Reader(db) {}
};

// What answers a read: the store thread's own Database, or a ReadPool that reads beside it.
class Reads {
 public:
  virtual ~Reads() = default;
  // Runs read-only `body` on one snapshot of the store, turning store exceptions into an Error.
  virtual Status read(const std::function<Status(Reader&)>& body) = 0;
};

// The Result `body` returns, read on one snapshot of `reads`: for a read that is one query.
template <typename Body>
auto read_value(Reads& reads, Body&& body) -> std::invoke_result_t<Body, Reader&> {
  std::optional<std::invoke_result_t<Body, Reader&>> out;
  const Status st = reads.read([&](Reader& tx) -> Status {
    out.emplace(body(tx));
    if (!*out) return out->error();
    return {};
  });
  if (!st) return st.error();
  return std::move(*out);
}

class Database final : public Reads {
 public:
  // Creates the file owner-only (0600, whatever the umask; SQLite gives its -wal and -shm files
  // the same mode) when it does not exist yet, and migrates it.
  static Result<std::unique_ptr<Database>> open(const std::filesystem::path& file,
                                                const std::vector<Migration>& migrations = embedded_migrations());
  // For tools that only read a broker's store (`firewall`, `audit verify`): never creates,
  // migrates or writes it; kNotFound when there is none, and a schema newer or older than this
  // binary's is refused rather than misread.
  // `accept_older`: a store from an earlier schema is opened too (restore checks a backup that
  // the broker will migrate at its next start).
  static Result<std::unique_ptr<Database>> open_read_only(const std::filesystem::path& file, bool accept_older = false);
  // A PostgreSQL database shared by a domain's replicas, by libpq connection string; each
  // replica migrates it at start, one at a time (a session advisory lock).
  static Result<std::unique_ptr<Database>> open_postgres(
      const std::string& conninfo, const std::vector<Migration>& migrations = embedded_postgres_migrations());

  // A consistent copy of the whole database into `out` (a new file, 0600), made with SQLite's
  // online backup: the broker may go on writing meanwhile; the copy is the state as of one
  // moment, every commit before it included.
  Status backup_to(const std::filesystem::path& out);
  ~Database() override;

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; a failed Status or an exception rolls back.
  Status transaction(const std::function<Status(Writer&)>& body);
  // Replicas: the term this broker leads under (leadership terms, migration 0009), nothing while
  // it follows. Called on the store thread at the start of every leader_transaction().
  void set_leader_term(std::function<std::optional<int64_t>()> term) { leader_term_ = std::move(term); }
  // A transaction only the domain's leader may run (what the peer watchers apply, the sweeps,
  // expiry, the control plane's outcomes): refused, inside the transaction and before `body`,
  // unless this broker's term is the store's newest. Elections take the write lock too, so
  // no term begins between the check and the commit. A plain transaction() where no term is
  // set (a broker on SQLite is its domain's only one).
  Status leader_transaction(const std::function<Status(Writer&)>& body);
  // Runs read-only `body` on one snapshot of the store, turning store exceptions into an Error.
  // On PostgreSQL that is a repeatable-read, read-only transaction: other replicas commit while
  // a read runs, and a catalog revision read before a change list must not miss the change
  // that lands between the two. On SQLite the writer's own connection reads between its
  // commits, on its thread, with nothing to isolate; a read-only connection (the read pool's,
  // the tools') takes a snapshot. Inside transaction() it simply runs.
  Status read(const std::function<Status(Reader&)>& body) override;
  // Runs `body`'s statements each on its own, outside a transaction: for bookkeeping no other
  // replica reacts to (heartbeats), which therefore wakes none of them.
  Status autocommit(const std::function<Status(Writer&)>& body);

  // Why the last write failed (disk full, a read-only file system, a lost connection), or
  // nothing once a write succeeded since. A failed business rule is not a write failure.
  const std::optional<std::string>& write_failure() const { return write_failure_; }
  // After a write failure: one small write (the store_health row), so that readiness comes
  // back by itself when the store can write again, even with nothing else to write.
  Status probe_write();

  // Integrity. SQLite: PRAGMA quick_check (`full` = false: the pages and records, not the
  // indexes' contents) or integrity_check and foreign_key_check; PostgreSQL: every table
  // read whole. The problems found, at most `max_problems`; none when the store is sound.
  Result<std::vector<std::string>> check_integrity(bool full, int max_problems = 100);

  int schema_version() const { return schema_version_; }
  // True for a PostgreSQL store (shared by replicas), false for the SQLite file.
  bool shared() const { return shared_; }
  const std::filesystem::path& file() const { return file_; }

  // Runs statements without parameters (migrations; tests that damage a store on purpose).
  // Throws on failure, as statements do.
  void execute(std::string_view sql);
  // Statements prepared so far, and prepared statements kept idle for reuse.
  int64_t statements_prepared() const { return statements_prepared_; }
  size_t idle_statements() const;

  // For tests of error paths: the n-th statement prepared or reused from now on fails as a
  // failing store call would (it throws, the transaction rolls back); 0 turns it off.
  void fail_nth_statement(int64_t n) {
    fail_at_ = n;
    statements_seen_ = 0;
  }
  // For the same tests: the next transaction's COMMIT fails, after its whole body ran.
  void fail_next_commit() { fail_commit_ = true; }

 private:
  friend class Statement;
  friend class ReadPool;  // opens its connections and hands each from thread to thread
  friend Error failed_operation(const Reader& tx, const char* what, const std::exception& e);
  // Checks the calling thread and counts the statement for fail_nth_statement().
  backend::Connection& use();
  // A prepared statement of `sql`: an idle one if a Statement that ran it before gave it back,
  // else a new one. Preparing (SQLite parses and plans the SQL) costs more than running most of
  // the store's queries, so every statement is kept for reuse once its Statement goes.
  std::unique_ptr<backend::Cursor> check_out(const std::string& sql);
  void check_in(std::string sql, std::unique_ptr<backend::Cursor> cursor) noexcept;
  [[noreturn]] void throw_injected_fault();

  Database(std::unique_ptr<backend::Connection> connection, std::filesystem::path file);
  Status migrate(const std::vector<Migration>& migrations);

  std::unique_ptr<backend::Connection> connection_;
  // Idle prepared statements by SQL, bounded: SQL built with a variable number of placeholders
  // would otherwise keep one of each length for ever.
  std::unordered_map<std::string, std::vector<std::unique_ptr<backend::Cursor>>> idle_;
  std::filesystem::path file_;
  int schema_version_ = 0;
  bool shared_ = false;
  bool in_transaction_ = false;  // transaction() or read() is running its body
  std::optional<std::string> write_failure_;
  // The first operation that failed inside the running transaction (failed_operation()): its
  // cause, for write_failure(), and the Error it returned.
  struct FailedOperation {
    std::string cause;
    Error error;
  };
  std::optional<FailedOperation> failed_operation_;
  // The transaction's outcome given its body's: a body that went on past a failed operation
  // (ignoring its Result) still fails, and a store failure is a write failure.
  Status settle(Status body_status);
  std::function<std::optional<int64_t>()> leader_term_;
  int64_t fail_at_ = 0;
  int64_t statements_seen_ = 0;
  int64_t statements_prepared_ = 0;
  bool fail_commit_ = false;
  ThreadOwner owner_{"the store connection"};
};

// Converts a store exception into an error naming what failed.
Error store_error(const std::string& what, const std::exception& e);

// The Error of operation `what` that failed with `e` inside `tx`. The Database remembers it: the
// transaction it ran in rolls back whatever its body returns, and counts as a write failure
// (readiness), as a thrown one did.
Error failed_operation(const Reader& tx, const char* what, const std::exception& e);

// Runs one store operation built of Statements (which throw): its value, or the Error that
// names `what` failed. Where the store's exceptions end.
template <typename Body>
auto guarded(const Reader& tx, const char* what, Body&& body) -> Result<std::invoke_result_t<Body>> {
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<Body>>) {
      body();
      return {};
    } else {
      return body();
    }
  } catch (const std::exception& e) {
    return failed_operation(tx, what, e);
  }
}

}  // namespace meshfed::store
