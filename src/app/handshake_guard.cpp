#include "handshake_guard.hpp"

#include <spdlog/spdlog.h>

namespace meshfed::app {

void HandshakeGuard::failed(const http::HttpServer::HandshakeFailure& failure) {
  handshake_failures_.inc({failure.reason});
  // A timeout, a hang-up or a scanner's probe is the listener's deadlines' business; a
  // certificate that failed verification is a failed authentication.
  if (!failure.credentials) return;
  auth_failures_.inc({listener_, failure.reason});
  if (const auto count = budget_.failed(failure.address)) {
    spdlog::warn("{}: TLS handshake from {} refused: {}{}", listener_, failure.address, failure.reason,
                 *count > 1 ? fmt::format(" ({} refusals from this address since the last line)", *count) : "");
  }
}

}  // namespace meshfed::app
