#include "postgres_link.hpp"

#include <poll.h>

#include <array>

#include "meshfed/core/text.hpp"

namespace meshfed::store::backend {

std::string pg_message(const char* text) {
  std::string m = text ? text : "unknown PostgreSQL error";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

std::string pg_literal(PGconn* conn, const std::string& text) {
  char* quoted = PQescapeLiteral(conn, text.data(), text.size());
  if (!quoted) throw PgError("cannot quote a value: " + pg_message(PQerrorMessage(conn)));
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

PgConn pg_connect(const std::string& conninfo) {
  // Defaults first: libpq lets a later keyword win, and the operator's string comes last.
  // Bounded connects; keepalives and a TCP user timeout so that a dead server or network
  // fails a call in about ten seconds instead of the kernel's quarter of an hour.
  static constexpr std::array<const char*, 9> keys = {"connect_timeout",     "keepalives",       "keepalives_idle",
                                                      "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                                      "application_name",    "dbname",           nullptr};
  const std::array<const char*, 9> values = {"5", "1", "5", "2", "3", "10000", "meshfed", conninfo.c_str(), nullptr};
  PgConn conn(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1), &PQfinish);
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    throw PgError("cannot connect to PostgreSQL: " + pg_message(conn ? PQerrorMessage(conn.get()) : nullptr));
  }
  // The server's notices (and the message of a session it ends) reach the caller as errors
  // where they matter; libpq's default would print them on the broker's stderr as well.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

bool pg_reconnect(PGconn* conn) {
  PQreset(conn);
  return PQstatus(conn) == CONNECTION_OK;
}

PgResult pg_exec_within(PGconn* conn, const std::string& sql, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto wait_for = [&](short events) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw PgError("PostgreSQL did not answer within " + std::to_string(timeout.count()) + " ms");
    pollfd p{PQsocket(conn), events, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0) throw PgError("poll failed on the PostgreSQL connection");
  };
  if (PQstatus(conn) != CONNECTION_OK || !PQsendQuery(conn, sql.c_str())) {
    throw PgError("PostgreSQL connection lost: " + pg_message(PQerrorMessage(conn)));
  }
  while (PQflush(conn) == 1) wait_for(POLLOUT);
  PgResult last(nullptr, &PQclear);
  for (;;) {
    while (PQisBusy(conn)) {
      wait_for(POLLIN);
      if (!PQconsumeInput(conn)) throw PgError("PostgreSQL connection lost: " + pg_message(PQerrorMessage(conn)));
    }
    PgResult r(PQgetResult(conn), &PQclear);
    if (!r) break;
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      throw PgError(pg_message(PQresultErrorMessage(r.get())));
    }
    last = std::move(r);
  }
  if (!last) throw PgError("PostgreSQL connection lost: " + pg_message(PQerrorMessage(conn)));
  return last;
}

const std::string& process_token() {
  static const std::string token = random_dns_chars(16);
  return token;
}

}  // namespace meshfed::store::backend
