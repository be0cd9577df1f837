// The peer API, served on its own mutually authenticated
// listener: /federation/v1/catalog with full snapshots, deltas and long-poll, each answer (a
// 304 in a header) with our signed audit head; /federation/v1/metrics; and
// /federation/v1/witness, what we witnessed of the caller's audit log. The caller is
// the peer the TLS layer authenticated (Request::peer); it sees only exports scoped to it, and
// nothing while it is quarantined or while the store cannot say whether it is (503).
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "meshfed/federation/catalog.hpp"
#include "meshfed/federation/witness_book.hpp"
#include "meshfed/http/message.hpp"
#include "meshfed/metrics/registry.hpp"

namespace meshfed::api {

struct PeerApiDeps {
  federation::Catalog& catalog;
  metrics::Registry& metrics;
  // Live view of the config: our domain, our ingress address, the configured peers.
  std::function<std::string()> domain;
  std::function<federation::IngressAddress()> ingress;
  std::function<bool(const std::string& peer)> is_configured_peer;
  // Prometheus text of the series exported to the peer (GET /federation/v1/metrics).
  std::function<std::string(const std::string& peer)> exported_metrics;
  // Signs our audit head for every catalog answer.
  federation::AuditHeadSigner& audit_head;
  // What we witnessed of the peer's audit log (GET /federation/v1/witness), built off the loop.
  std::function<Result<std::string>(const std::string& peer)> witnessed;
};

class PeerApi {
 public:
  explicit PeerApi(PeerApiDeps deps);
  http::Response handle(const http::Request& req);
  // The answer when it costs no more than a read or two (a refusal, a kept full catalog,
  // "nothing new" to a peer that is up to date, the metrics), for the connection's own loop;
  // nothing when handle() must build it.
  std::optional<http::Response> answer_quickly(const http::Request& req);
  // What a catalog long-poll's 304 carries, made as it is sent: our audit head as it is then.
  std::vector<std::pair<std::string, std::string>> not_modified_headers(const http::Request& req);

 private:
  std::optional<http::Response> respond(const http::Request& req, bool quick_only);
  // `revision`: the catalog's, read with the quarantine check (Catalog::glance).
  std::optional<http::Response> catalog(const http::Request& req, const federation::PeerGlance& glance,
                                        bool quick_only);
  PeerApiDeps deps_;
  metrics::Family& requests_;
  metrics::Family& refused_;
};

}  // namespace meshfed::api
