#include <execinfo.h>
#include <malloc.h>
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
  // Every answer's buffers are freed on the connection's thread: with glibc's default (128 KiB)
  // each thread's arena hands the freed top back to the kernel and faults it in again at the
  // next answer, a madvise and a TLB shootdown on every core per request. Up to 16 MiB of free
  // memory stays in an arena for reuse instead (bench/profile-peer-api.sh shows the difference).
  mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
  return meshfed::cli::run(argc, argv);
}
