// What a store backend provides: one connection, its statements and its transactions. SQLite
// (the embedded default) and PostgreSQL implement it; Database and Statement are what the
// rest of the store module uses, and no other module sees a backend.
#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace meshfed::store::backend {

// A prepared statement: `?` placeholders bound by position from 1, columns read from 0.
// Failures throw (std::exception); Database turns them into Errors.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual void bind_int(int i, int64_t v) = 0;
  virtual void bind_text(int i, const std::string& v) = 0;
  virtual void bind_null(int i) = 0;
  // The next row; false once there is none. The first call runs the statement.
  virtual bool step() = 0;
  // Ready to run again; bindings cleared.
  virtual void reset() = 0;
  virtual bool is_null(int col) const = 0;
  virtual int64_t int64(int col) const = 0;
  virtual std::string text(int col) const = 0;
  // The result's shape, once step() has run the statement.
  virtual int columns() const = 0;
  virtual std::string column_name(int col) const = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual std::unique_ptr<Cursor> prepare(std::string_view sql) = 0;
  // Runs one or more statements without parameters (migrations, pragmas, tests).
  virtual void execute(std::string_view sql) = 0;
  // A write transaction that holds the store's write lock from its start: on SQLite BEGIN
  // IMMEDIATE; on PostgreSQL a transaction whose writes are serialised where they must be.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  // A read-only transaction that sees one snapshot, for a backend whose other writers (other
  // replicas) could commit between two statements of one read; nothing to do where this
  // process is the only writer and reads on the writer's own thread (SQLite).
  virtual void begin_read() {}
  virtual void end_read() {}
  // An exception of the kind the backend's own failures raise, for injected faults.
  virtual std::exception_ptr fault(const std::string& what) = 0;
};

// The SQLite file `file`, WAL and synchronous=FULL, foreign keys on; read-only when asked.
std::unique_ptr<Connection> open_sqlite(const std::filesystem::path& file, bool read_only);
// A connection to PostgreSQL by a libpq connection string (which may hold a password: it
// never appears in an error).
std::unique_ptr<Connection> open_postgres(const std::string& conninfo);
// SQLite's online backup of the whole database behind `c` into the new file `out`.
void sqlite_backup(Connection& c, const std::filesystem::path& out);

}  // namespace meshfed::store::backend
