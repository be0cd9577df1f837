// The importing side's first look at a peer's catalog answer (docs/security.md):
// bounded in bytes, depth and count, every field checked against its contract, every export
// behind one ingress endpoint inside the peer's `ingress_cidrs`. The answer is checked whole
// before anything is applied, off the store thread; what comes out is plain data.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "meshfed/audit/head.hpp"
#include "meshfed/core/cidr.hpp"
#include "meshfed/core/result.hpp"

namespace meshfed::federation {

struct CatalogRules {
  std::string peer;          // the authenticated peer's domain
  std::string trust_domain;  // its SNIs end in <trust_domain>.meshfed
  int64_t max_exports = 1000;
  std::vector<Cidr> ingress_cidrs;  // where the peer's one ingress endpoint may be
};

// The most bytes a catalog answer under `rules` may take: each export is bounded by its fields.
size_t catalog_byte_limit(const CatalogRules& rules);

struct ImportedExport {
  std::string id;
  std::string alias;
  std::string mesh;
  std::string service;
  int port = 0;
  std::string protocol;
  std::string sni;
  std::string ingress_host;
  int ingress_port = 0;
  std::vector<std::string> metrics;
  bool proxy_protocol = false;
  int64_t approved_at_ms = 0;
  int64_t expires_at_ms = 0;
  std::optional<std::string> l7;  // the L7 rules the exporter enforces, canonical JSON
};

struct CatalogAnswer {
  int64_t revision = 0;
  bool full = true;
  std::vector<ImportedExport> exports;  // the snapshot, or the upserts of a delta
  std::vector<std::string> removals;
  // The peer's audit head as its answer carried it; its signature is checked by the watcher,
  // which knows the certificate the peer proved.
  std::optional<audit::SignedHead> audit_head;
};

// Why an answer was refused: `reason` is one of a few fixed words (it labels a metric and keys
// the audit entry); `message` names the exact problem.
struct CatalogRefusal {
  std::string reason;  // json, size, depth, domain, field, count, ingress, audit_head
  std::string message;
};

// Names an ingress host resolves to; only called for a host that is not an address literal.
using HostResolver = std::function<Result<std::vector<std::string>>(const std::string& host)>;

std::variant<CatalogAnswer, CatalogRefusal> check_catalog(const CatalogRules& rules, std::string_view body,
                                                          const HostResolver& resolve);

// Field rules shared with everything that hands peer data on to a control plane.
bool is_import_protocol(std::string_view protocol);       // tcp, http, http2, grpc
bool is_metric_pattern(std::string_view name_or_prefix);  // Prometheus name, optionally ending in '*'

}  // namespace meshfed::federation
