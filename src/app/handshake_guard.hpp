// Paces strangers on a mutually authenticated listener: a source whose certificates keep
// failing verification (an unknown CA, a forged identity) is turned away at accept, before any
// TLS work, until its failure budget refills; each failure is counted, and logged at most once
// per source per interval with the count.
#pragma once

#include <string>

#include "meshfed/core/failure_budget.hpp"
#include "meshfed/http/server.hpp"
#include "meshfed/metrics/registry.hpp"

namespace meshfed::app {

class HandshakeGuard {
 public:
  HandshakeGuard(const Clock& clock, std::string listener, metrics::Family& handshake_failures,
                 metrics::Family& auth_failures)
      : budget_(clock), listener_(std::move(listener)), handshake_failures_(handshake_failures),
        auth_failures_(auth_failures) {}

  // Thread-safe, as the server asks from its loops.
  bool admits(const std::string& address) { return budget_.retry_after(address).count() == 0; }
  void failed(const http::HttpServer::HandshakeFailure& failure);

 private:
  FailureBudget budget_;
  const std::string listener_;
  metrics::Family& handshake_failures_;
  metrics::Family& auth_failures_;
};

}  // namespace meshfed::app
