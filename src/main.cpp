#include <execinfo.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "meshfed/cli/cli.hpp"

namespace {

// An exception nobody caught ends the process; say which, and where, before it does.
[[noreturn]] void on_terminate() {
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "meshfed: terminating on an uncaught exception: %s\n", ex.what());
    } catch (...) {
      std::fprintf(stderr, "meshfed: terminating on an uncaught exception\n");
    }
  }
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  std::set_terminate(on_terminate);
  // OpenSSL writes to gateway sockets with plain send(): a peer that went away must be an
  // EPIPE error on that connection, not a signal that ends the process.
  std::signal(SIGPIPE, SIG_IGN);
  return meshfed::cli::run(argc, argv);
}
