// A PostgreSQL server of the tests' own: initdb in a temporary folder (as the `postgres` user
// when the tests run as root), pg_ctl on a free loopback port, stopped and removed at exit.
// One per test binary, started on first use; each test takes a fresh database in it.
#pragma once

#include <string>
#include <vector>

namespace meshfed::testing {

class PostgresCluster {
 public:
  // The shared cluster; throws when PostgreSQL's server binaries are not installed.
  static PostgresCluster& shared();
  ~PostgresCluster();

  // A new, empty database; its libpq connection string.
  std::string create_database();
  uint16_t port() const { return port_; }
  // As a crash and a restart would (immediate shutdown: sessions are cut, not drained).
  void stop();
  void start();
  // The server and every one of its processes stopped (SIGSTOP) and continued: a database that
  // stops answering without closing a connection, as a stalled host would.
  void pause();
  void resume();

 private:
  PostgresCluster();
  std::string run_as_owner(const std::string& command) const;

  std::string bin_;  // /usr/lib/postgresql/<version>/bin
  std::string dir_;
  uint16_t port_ = 0;
  int databases_ = 0;
  std::vector<int> paused_;
};

}  // namespace meshfed::testing
