// The shared backend: one libpq connection to the PostgreSQL database that a domain's replicas
// share. Statements use the SQL the SQLite backend runs, with `?` placeholders numbered.
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "postgres_link.hpp"

namespace meshfed::store::backend {
namespace {

// `?` placeholders become $1, $2, ...; a `?` inside a quoted literal stays.
std::string numbered(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  bool quoted = false;
  for (const char c : sql) {
    if (c == '\'') quoted = !quoted;
    if (c == '?' && !quoted) {
      out += '$' + std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

class PgConnection;

// Whether a statement's result says it inserted, updated or deleted a row (its command tag, e.g.
// "UPDATE 0", and its row count).
bool changed_rows(PGresult* r) {
  const std::string_view tag = PQcmdStatus(r);
  const bool writes = tag.starts_with("INSERT") || tag.starts_with("UPDATE") || tag.starts_with("DELETE");
  const std::string_view rows = PQcmdTuples(r);
  return writes && !rows.empty() && rows != "0";
}

class PgCursor final : public Cursor {
 public:
  PgCursor(PgConnection& connection, std::string_view sql) : connection_(connection), sql_(numbered(sql)) {}

  void bind_int(int i, int64_t v) override { slot(i) = std::to_string(v); }
  void bind_text(int i, const std::string& v) override { slot(i) = v; }
  void bind_null(int i) override { slot(i).reset(); }

  bool step() override {
    if (!result_) run();
    return ++row_ < PQntuples(result_.get());
  }
  void reset() override {
    result_.reset();
    row_ = -1;
    params_.clear();
  }
  bool is_null(int col) const override { return PQgetisnull(result_.get(), row_, col) == 1; }
  int64_t int64(int col) const override { return std::stoll(PQgetvalue(result_.get(), row_, col)); }
  int columns() const override { return PQnfields(result_.get()); }
  std::string column_name(int col) const override { return PQfname(result_.get(), col); }
  std::string text(int col) const override {
    return std::string(PQgetvalue(result_.get(), row_, col),
                       static_cast<size_t>(PQgetlength(result_.get(), row_, col)));
  }

 private:
  std::optional<std::string>& slot(int i) {
    if (i < 1) throw PgError("parameter numbers start at 1");
    if (params_.size() < static_cast<size_t>(i)) params_.resize(static_cast<size_t>(i));
    return params_[static_cast<size_t>(i - 1)];
  }

  void run();

  PgConnection& connection_;
  std::string sql_;
  std::vector<std::optional<std::string>> params_;
  PgResult result_{nullptr, &PQclear};
  int row_ = -1;
};

// Every write transaction takes one transaction-scoped advisory lock first, so the replicas of a
// domain write one at a time, as SQLite's BEGIN IMMEDIATE makes a single broker do: the audit
// chain's head, the catalog revision and the egress ports are read and advanced without a race.
const std::string kBeginWrite = std::string("BEGIN; SELECT pg_advisory_xact_lock(") + kWriteLockKey + ")";

// Acknowledged means on the server's disk (and its synchronous standbys'), whatever the server's
// default; notices stay out of the broker's stderr.
constexpr const char* kSessionSettings = "SET synchronous_commit = on; SET client_min_messages = error";

class PgConnection final : public Connection {
 public:
  explicit PgConnection(const std::string& conninfo) : conn_(pg_connect(conninfo)) { execute(kSessionSettings); }

  std::unique_ptr<Cursor> prepare(std::string_view sql) override { return std::make_unique<PgCursor>(*this, sql); }
  // Raw SQL inside a transaction counts as a change: only a statement's last result is seen.
  void execute(std::string_view sql) override {
    check(PQexec(live(), std::string(sql).c_str()));
    if (in_transaction_) note_change();
  }
  void begin() override {
    execute(kBeginWrite);
    in_transaction_ = true;
    changed_ = false;
  }
  void begin_read() override {
    execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    in_transaction_ = true;
  }
  void end_read() override {
    in_transaction_ = false;
    execute("COMMIT");
  }
  // Other replicas learn of the commit from the notice it carries (delivered only if it commits).
  // A write transaction that changed no row (the leader's reconcile finding everything in place)
  // announces nothing, or every replica would re-derive its state for nothing, and the leader
  // would reconcile again at their notice.
  void commit() override {
    in_transaction_ = false;
    execute(std::exchange(changed_, false) ? commit_sql_ : "COMMIT");
  }
  void note_change() { changed_ = true; }
  void rollback() noexcept override {
    in_transaction_ = false;
    PgResult r(PQexec(conn_.get(), "ROLLBACK"), &PQclear);  // a warning when none is open; harmless
  }
  std::exception_ptr fault(const std::string& what) override { return std::make_exception_ptr(PgError(what)); }

  // The connection, re-established first if it broke since the last statement (a server
  // restart): the store recovers without the broker restarting. Never inside a transaction,
  // which died with the old session.
  PGconn* live() {
    if (PQstatus(conn_.get()) == CONNECTION_OK) return conn_.get();
    if (in_transaction_ || !pg_reconnect(conn_.get())) {
      throw PgError("PostgreSQL connection lost: " + pg_message(PQerrorMessage(conn_.get())));
    }
    check(PQexec(conn_.get(), kSessionSettings));
    return conn_.get();
  }

  // Takes a result, throwing with the server's words unless it succeeded.
  PgResult check(PGresult* raw) {
    PgResult r(raw, &PQclear);
    const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      throw PgError(pg_message(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_.get())));
    }
    return r;
  }

 private:
  PgConn conn_;
  bool in_transaction_ = false;
  bool changed_ = false;  // a row was inserted, updated or deleted in this transaction
  const std::string commit_sql_ = std::string("NOTIFY ") + kChangeChannel + ", '" + process_token() + "'; COMMIT";
};

void PgCursor::run() {
  std::vector<const char*> values;
  values.reserve(params_.size());
  for (const auto& p : params_) values.push_back(p ? p->c_str() : nullptr);
  // Text parameters with types inferred by the server, text results.
  PGconn* conn = connection_.live();
  result_ = connection_.check(
      PQexecParams(conn, sql_.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  row_ = -1;
  if (changed_rows(result_.get())) connection_.note_change();
}

}  // namespace

std::unique_ptr<Connection> open_postgres(const std::string& conninfo) {
  return std::make_unique<PgConnection>(conninfo);
}

}  // namespace meshfed::store::backend
