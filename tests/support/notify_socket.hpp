// systemd's side of sd_notify(3) for tests: a datagram socket named by NOTIFY_SOCKET, with a
// watchdog period in WATCHDOG_USEC, set in this process's environment (and so inherited by the
// brokers it starts) for as long as the socket lives.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace meshfed::testing {

class NotifySocket {
 public:
  explicit NotifySocket(std::chrono::microseconds watchdog) : path_(dir_ / "notify") {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      std::fprintf(stderr, "notify socket: cannot bind %s\n", path_.c_str());
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    ::setenv("WATCHDOG_USEC", std::to_string(watchdog.count()).c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::close(fd_);
  }
  // The next message, or empty when none comes within `wait`.
  std::string next(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return "";
    char buf[512];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // Waits for `message`, skipping others; false if it does not come within `wait`.
  bool wait_for(const std::string& message, std::chrono::milliseconds wait = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
      if (next(std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now())) ==
          message)
        return true;
    }
    return false;
  }
  // Reads what has arrived already, without waiting.
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    for (auto m = next(std::chrono::milliseconds(0)); !m.empty(); m = next(std::chrono::milliseconds(0)))
      out.push_back(m);
    return out;
  }

 private:
  TempDir dir_;
  std::string path_;
  int fd_ = -1;
};

}  // namespace meshfed::testing
