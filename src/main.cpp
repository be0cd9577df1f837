#include <csignal>

#include "meshfed/cli/cli.hpp"

int main(int argc, char** argv) {
  // OpenSSL writes to gateway sockets with plain send(): a peer that went away must be an
  // EPIPE error on that connection, not a signal that ends the process.
  std::signal(SIGPIPE, SIG_IGN);
  return meshfed::cli::run(argc, argv);
}
