#include "support/postgres_cluster.hpp"

#include <libpq-fe.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "support/net_support.hpp"

namespace meshfed::testing {
namespace {

namespace fs = std::filesystem;

std::string server_binaries() {
  std::error_code ec;
  std::string newest;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(e.path() / "bin/pg_ctl") && e.path().string() > newest) newest = e.path().string();
  }
  if (newest.empty()) throw std::runtime_error("PostgreSQL's server is not installed (apt-get install postgresql)");
  return newest + "/bin";
}

}  // namespace

PostgresCluster& PostgresCluster::shared() {
  static std::unique_ptr<PostgresCluster> cluster(new PostgresCluster());
  return *cluster;
}

std::string PostgresCluster::run_as_owner(const std::string& command) const {
  // PostgreSQL refuses to run as root.
  return (::geteuid() == 0 ? "runuser -u postgres -- " : "") + command;
}

PostgresCluster::PostgresCluster() : bin_(server_binaries()) {
  char tmpl[] = "/tmp/meshfed-pg-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw || ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      throw std::runtime_error("cannot hand " + dir_ + " to the postgres user");
    }
  }
  port_ = free_port_range(1);
  const std::string initdb =
      run_as_owner(bin_ + "/initdb -D " + dir_ + "/data -A trust -U meshfed -E UTF8 > " + dir_ + "/initdb.log 2>&1");
  if (std::system(initdb.c_str()) != 0) throw std::runtime_error("initdb failed; see " + dir_ + "/initdb.log");
  start();
}

void PostgresCluster::start() {
  const std::string start = run_as_owner(
      bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w -o \"-p " + std::to_string(port_) + " -k " +
      dir_ + " -c listen_addresses=127.0.0.1 -c max_connections=200\" start > " + dir_ + "/pg_ctl.log 2>&1");
  if (std::system(start.c_str()) != 0) throw std::runtime_error("pg_ctl start failed; see " + dir_ + "/server.log");
}

void PostgresCluster::stop() {
  const std::string stop = run_as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop > /dev/null 2>&1");
  (void)std::system(stop.c_str());
}

void PostgresCluster::pause() {
  std::ifstream pid_file(dir_ + "/data/postmaster.pid");
  int postmaster = 0;
  if (!(pid_file >> postmaster) || postmaster <= 0) throw std::runtime_error("no postmaster.pid in " + dir_);
  paused_ = {postmaster};
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: the comm may hold spaces, so read after its closing paren.
    std::istringstream rest(line.substr(line.rfind(')') + 1));
    std::string state;
    int ppid = 0;
    if (rest >> state >> ppid && ppid == postmaster) paused_.push_back(std::stoi(e.path().filename()));
  }
  for (int pid : paused_) ::kill(pid, SIGSTOP);
}

void PostgresCluster::resume() {
  for (int pid : paused_) ::kill(pid, SIGCONT);
  paused_.clear();
}

PostgresCluster::~PostgresCluster() {
  resume();
  stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PostgresCluster::create_database() {
  const std::string base = "host=127.0.0.1 port=" + std::to_string(port_) + " user=meshfed";
  const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb((base + " dbname=postgres").c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn.get()));
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn.get(), ("CREATE DATABASE " + name).c_str()), &PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) throw std::runtime_error(PQerrorMessage(conn.get()));
  return base + " dbname=" + name;
}

}  // namespace meshfed::testing
