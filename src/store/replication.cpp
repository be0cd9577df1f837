#include "meshfed/store/replication.hpp"

#include <poll.h>

#include <optional>

#include "postgres_link.hpp"

namespace meshfed::store {
namespace {

using namespace backend;

// The leader's lock: distinct from the write lock and the migration lock (database.cpp,
// postgres_backend.cpp).
constexpr const char* kLeaderKey = "7235841093125160040";

Error unavailable(const std::exception& e) { return make_error(ErrorCode::kUnavailable, e.what()); }

// A coordination connection: opened on first use, dropped on any failure and reopened by the
// next call, so that a failure is always reported once and then retried from scratch.
class Session {
 public:
  explicit Session(std::string conninfo, std::string setup)
      : conninfo_(std::move(conninfo)), setup_(std::move(setup)) {}

  bool open() const { return conn_ != nullptr; }
  // The open connection, made (and set up) first if there is none.
  PGconn* get(std::chrono::milliseconds timeout) {
    if (!conn_) {
      conn_ = pg_connect(conninfo_);
      exec(setup_, timeout);
    }
    return conn_.get();
  }
  PgResult exec(const std::string& sql, std::chrono::milliseconds timeout) {
    try {
      return pg_exec_within(get(timeout), sql, timeout);
    } catch (...) {
      close();
      throw;
    }
  }
  void close() { conn_.reset(); }

 private:
  std::string conninfo_;
  std::string setup_;
  PgConn conn_{nullptr, &PQfinish};
};

class PgLeaderLock final : public LeaderLock {
 public:
  PgLeaderLock(std::string conninfo, std::string replica)
      : replica_(std::move(replica)),
        session_(std::move(conninfo),
                 // A leader cut off from the server stops confirming; the server then ends its
                 // session, and with it the lock, after this long, well after the leader has
                 // stepped down on its own (its first failed confirmation).
                 "SET idle_session_timeout = '" + std::to_string(kLeaderSessionIdle.count()) +
                     "s'; SET client_min_messages = error") {}

  Result<std::optional<int64_t>> try_acquire(std::chrono::milliseconds timeout) override {
    try {
      auto r = session_.exec(std::string("SELECT pg_try_advisory_lock(") + kLeaderKey + ")", timeout);
      if (std::string_view(PQgetvalue(r.get(), 0, 0)) != "t") return std::optional<int64_t>();
      return std::optional<int64_t>(begin_term(timeout));
    } catch (const std::exception& e) {
      session_.close();  // a term not begun is no leadership: the lock goes with the session
      return unavailable(e);
    }
  }

  Result<int64_t> confirm(std::chrono::milliseconds timeout) override {
    try {
      if (!session_.open()) return make_error(ErrorCode::kUnavailable, "the leader's session has ended");
      // The lock as the server sees it for this very session, not merely a live connection.
      auto r =
          session_.exec(std::string("SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                    "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = ") +
                            kLeaderKey + "), (SELECT COALESCE(MAX(term), 0) FROM leader_terms)",
                        timeout);
      if (std::string_view(PQgetvalue(r.get(), 0, 0)) != "1") {
        session_.close();
        return make_error(ErrorCode::kUnavailable, "the leader lock is no longer held by this replica");
      }
      return std::stoll(PQgetvalue(r.get(), 0, 1));
    } catch (const std::exception& e) {
      return unavailable(e);
    }
  }

  void release() override { session_.close(); }

 private:
  // The next term, under the write lock. Its start is the server's clock, which every replica
  // shares, so that a term's beginning can be compared with what others did before it.
  int64_t begin_term(std::chrono::milliseconds timeout) {
    session_.exec(std::string("BEGIN; SELECT pg_advisory_xact_lock(") + kWriteLockKey + ")", timeout);
    auto r = session_.exec(
        "WITH next AS (INSERT INTO leader_terms(term, replica, started_ms) SELECT COALESCE(MAX(term), 0) + 1, " +
            pg_literal(session_.get(timeout), replica_) +
            ", (extract(epoch FROM clock_timestamp()) * 1000)::bigint FROM leader_terms RETURNING term), "
            "old AS (DELETE FROM leader_terms WHERE term <= (SELECT term FROM next) - " +
            std::to_string(kTermsKept) + ") SELECT term FROM next",
        timeout);
    const int64_t term = std::stoll(PQgetvalue(r.get(), 0, 0));
    session_.exec("COMMIT", timeout);
    return term;
  }

  std::string replica_;
  Session session_;
};

class PgChangeFeed final : public ChangeFeed {
 public:
  explicit PgChangeFeed(std::string conninfo)
      : session_(std::move(conninfo), std::string("LISTEN ") + kChangeChannel) {}

  Result<bool> wait(std::chrono::milliseconds timeout) override {
    try {
      const bool fresh = !session_.open();
      PGconn* conn = session_.get(timeout);
      if (fresh) return true;  // whatever was committed while no one listened
      if (take_others(conn)) return true;
      pollfd p{PQsocket(conn), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) < 0) throw PgError("poll failed on the change feed");
      if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
        throw PgError("PostgreSQL connection lost: " + pg_message(PQerrorMessage(conn)));
      }
      return take_others(conn);
    } catch (const std::exception& e) {
      session_.close();
      return unavailable(e);
    }
  }

 private:
  // Drains the notices received on `conn`; true when one came from another process.
  static bool take_others(PGconn* conn) {
    bool others = false;
    while (PGnotify* n = PQnotifies(conn)) {
      others = others || process_token() != n->extra;
      PQfreemem(n);
    }
    return others;
  }

  Session session_;
};

}  // namespace

std::unique_ptr<LeaderLock> postgres_leader_lock(std::string conninfo, std::string replica) {
  return std::make_unique<PgLeaderLock>(std::move(conninfo), std::move(replica));
}

std::unique_ptr<ChangeFeed> postgres_change_feed(std::string conninfo) {
  return std::make_unique<PgChangeFeed>(std::move(conninfo));
}

}  // namespace meshfed::store
