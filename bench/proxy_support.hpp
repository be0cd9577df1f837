// What the proxy benchmarks (gateways, L7) share: HAProxy and `meshfed gateway` processes in
// the same topology, their CPU time, and their end however main() ends.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "meshfed/core/text.hpp"
#include "support/test_support.hpp"

namespace meshfed::bench {

namespace fs = std::filesystem;

// User + system CPU seconds a process has used so far.
inline double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto fields = meshfed::split(stat.substr(stat.rfind(')') + 2), ' ');
  return static_cast<double>(std::stoll(fields[11]) + std::stoll(fields[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

inline double cpu_of(const std::vector<int>& pids) {
  double s = 0;
  for (int p : pids) s += cpu_seconds(p);
  return s;
}

// A role's certificate and key in one file, as HAProxy's `crt` takes them.
inline std::string combined_pem(const fs::path& dir, const std::string& role) {
  const fs::path out = dir / (role + "-combined.pem");
  testing::write_file(out, testing::read_file(dir / (role + ".pem")) + testing::read_file(dir / (role + "-key.pem")));
  return out.string();
}

inline int start_haproxy(const fs::path& cfg, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execlp("haproxy", "haproxy", "-db", "-f", cfg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// HAProxy's global and defaults sections for these benchmarks: nothing logged per connection.
inline std::string haproxy_preamble(const std::string& mode) {
  return "global\n  maxconn 4096\n  log stderr format raw local0 warning\ndefaults\n  mode " + mode +
         "\n  timeout connect 5s\n  timeout client 300s\n  timeout server 300s\n";
}

// `domain`'s gateway of `role` as its own process, following its broker's routes.
inline int start_gateway(testing::Federation& fed, testing::DomainFixture& fx, const std::string& role) {
  testing::write_file(fx.dir / "gateway-token", fx.tokens.at("gw"));
  return testing::spawn_meshfed({"--log-level", "warn", "gateway", "--role", role, "--config", fx.config_file.string(),
                                 "--broker", "https://127.0.0.1:" + std::to_string(fed.broker(fx.domain).admin_port()),
                                 "--token-file", (fx.dir / "gateway-token").string()},
                                fx.dir / (role + ".log"));
}

// Stops the proxy processes however main() ends.
struct Children {
  std::vector<int*> pids;
  ~Children() {
    for (int* p : pids) {
      if (*p > 0) testing::stop_process(*p);
      *p = -1;
    }
  }
};

}  // namespace meshfed::bench
