// What the store's PostgreSQL connections have in common: how they connect (bounded waits, so
// that a server or network that stops answering fails a call instead of hanging a thread), how
// libpq's errors read, and the channel on which a replica's commits are announced.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace meshfed::store::backend {

class PgError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using PgConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

// libpq's words for what failed, without the trailing newline it adds.
std::string pg_message(const char* text);

// A new connection, or PgError with libpq's reason (never the connection string, which may
// hold a password). The operator's string may override every default set here.
PgConn pg_connect(const std::string& conninfo);

// PQreset() for a connection that broke; false when the server is still out of reach.
bool pg_reconnect(PGconn* conn);

// Runs `sql` without parameters and waits at most `timeout` for its result; PgError when it
// fails, times out or the connection is lost. For the coordination connections (leadership,
// change feed), which must notice a silent server within a bounded time.
PgResult pg_exec_within(PGconn* conn, const std::string& sql, std::chrono::milliseconds timeout);

// The lock every write transaction takes first (postgres_backend.cpp), and an election with it.
inline constexpr const char* kWriteLockKey = "7235841093125160038";

// `text` as an SQL string literal for `conn` (quotes doubled, per the server's encoding).
std::string pg_literal(PGconn* conn, const std::string& text);

// Commits that change the domain's state are announced on this channel, with this process's
// token as payload, so that a replica can tell its own commits from the others'.
inline constexpr const char* kChangeChannel = "meshfed_changes";
const std::string& process_token();

}  // namespace meshfed::store::backend
