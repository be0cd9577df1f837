// One watcher per configured peer: keeps one mutually authenticated connection to the peer's
// broker and long-polls its catalog from the last revision applied. Errors back off with
// jitter up to a bound; it never busy-loops and never takes the broker down.
//
// Each watcher is a thread blocked in its long-poll: peers are few, and this keeps the event
// loop free of outbound TLS. Store work is handed to the store thread (a SerialExecutor).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <variant>

#include "meshfed/config/config.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/core/serial_executor.hpp"
#include "meshfed/core/settings_loop.hpp"
#include "meshfed/federation/catalog_check.hpp"
#include "meshfed/http/client.hpp"
#include "meshfed/metrics/registry.hpp"
#include "meshfed/pki/peer_trust.hpp"

namespace meshfed::federation {

class ImportManager;
class WitnessBook;

struct WatcherOptions {
  std::string peer;
  std::string url;  // https://host:port of the peer's broker
  std::shared_ptr<const pki::PeerTrust> trust;
  config::TlsFiles tls;  // our broker certificate, presented as the client certificate
  std::chrono::seconds wait{30};
  std::chrono::milliseconds backoff_min{500};
  std::chrono::milliseconds backoff_max{30000};
  std::string trust_domain;  // the peer's: its SNIs end in <trust_domain>.meshfed
  int64_t max_exports = 1000;
  std::vector<std::string> ingress_cidrs;       // empty: the addresses the url's host resolves to now
  metrics::Family* sync_errors = nullptr;       // by {peer, reason}: unreachable, http_status, rejected_catalog
  metrics::Family* catalog_refusals = nullptr;  // by {peer, reason}: see CatalogRefusal
  WitnessBook* witness = nullptr;               // keeps the peer's audit heads (store thread)
};

class PeerWatcher {
 public:
  // A peer held back by its change budget is asked again at least this often: the withdrawals
  // in its answers (revocations) apply whatever the budget holds.
  static constexpr auto kLongestBudgetWait = std::chrono::seconds(5);

  // `store` is the thread that owns `imports`; the watcher hands it every store call and waits.
  PeerWatcher(WatcherOptions options, ImportManager& imports, SerialExecutor& store);
  ~PeerWatcher();

  void start();
  void stop();
  // Breaks off the current long-poll or backoff, e.g. after a quarantine or release.
  void wake();

 private:
  void run();
  CatalogRules rules() const;
  // The audit head of an answer (a 304's header, or the body's), its signature checked against
  // the certificate the peer's broker proved: a refusal when it is malformed or does not verify.
  std::variant<std::optional<audit::SignedHead>, CatalogRefusal> signed_head(
      const http::ClientResponse& res, const std::optional<audit::SignedHead>& in_body) const;
  // Hands a checked head to the witness book (store thread).
  void witness(const std::optional<audit::SignedHead>& head);

  WatcherOptions options_;
  ImportManager& imports_;
  SerialExecutor& store_;
  std::unique_ptr<http::HttpsClient> client_;  // the loop thread's alone
  http::InterruptibleRequests requests_;       // wake() and stop() break off the long-poll
  BackgroundLoop loop_;                        // last: its thread stops before the rest goes
};

}  // namespace meshfed::federation
