// The shared backend: one libpq connection to the PostgreSQL database that a domain's replicas
// share. Statements use the SQL the SQLite backend runs, with `?` placeholders numbered.
#include <libpq-fe.h>

#include <optional>
#include <stdexcept>
#include <vector>

#include "backend.hpp"

namespace meshfed::store::backend {
namespace {

class PgError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// libpq's words for what failed, without the trailing newline it adds.
std::string pg_message(const char* text) {
  std::string m = text ? text : "unknown PostgreSQL error";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

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

class PgCursor final : public Cursor {
 public:
  PgCursor(PGconn* conn, std::string_view sql) : conn_(conn), sql_(numbered(sql)) {}

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

  void run() {
    std::vector<const char*> values;
    values.reserve(params_.size());
    for (const auto& p : params_) values.push_back(p ? p->c_str() : nullptr);
    // Text parameters with types inferred by the server, text results.
    result_.reset(PQexecParams(conn_, sql_.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                               nullptr, 0));
    const auto status = result_ ? PQresultStatus(result_.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      throw PgError(pg_message(result_ ? PQresultErrorMessage(result_.get()) : PQerrorMessage(conn_)));
    }
    row_ = -1;
  }

  PGconn* conn_;
  std::string sql_;
  std::vector<std::optional<std::string>> params_;
  Result result_{nullptr, &PQclear};
  int row_ = -1;
};

// Every write transaction takes one transaction-scoped advisory lock first, so the replicas of a
// domain write one at a time, as SQLite's BEGIN IMMEDIATE makes a single broker do: the audit
// chain's head, the catalog revision and the egress ports are read and advanced without a race.
constexpr const char* kBeginWrite = "BEGIN; SELECT pg_advisory_xact_lock(7235841093125160038)";

class PgConnection final : public Connection {
 public:
  explicit PgConnection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str()), &PQfinish) {
    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
      // The connection string may hold a password: it is not repeated, only libpq's reason.
      throw PgError("cannot connect to PostgreSQL: " + pg_message(conn_ ? PQerrorMessage(conn_.get()) : nullptr));
    }
    // Acknowledged means on the server's disk (and its synchronous standbys'), whatever the
    // server's default; notices stay out of the broker's stderr.
    execute("SET synchronous_commit = on; SET client_min_messages = error");
  }

  std::unique_ptr<Cursor> prepare(std::string_view sql) override {
    return std::make_unique<PgCursor>(conn_.get(), sql);
  }
  void execute(std::string_view sql) override {
    Result r(PQexec(conn_.get(), std::string(sql).c_str()), &PQclear);
    const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      throw PgError(pg_message(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_.get())));
    }
  }
  void begin() override { execute(kBeginWrite); }
  void commit() override { execute("COMMIT"); }
  void rollback() noexcept override {
    Result r(PQexec(conn_.get(), "ROLLBACK"), &PQclear);  // a warning when none is open; harmless
  }
  std::exception_ptr fault(const std::string& what) override { return std::make_exception_ptr(PgError(what)); }

 private:
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
};

}  // namespace

std::unique_ptr<Connection> open_postgres(const std::string& conninfo) {
  return std::make_unique<PgConnection>(conninfo);
}

}  // namespace meshfed::store::backend
