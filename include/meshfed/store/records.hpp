// The rows the broker keeps: exports with their transition history. Plain data; the rules
// about them live in workflow/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshfed/audit/head.hpp"

namespace meshfed::store {

enum class ExportState { kPending, kApproved, kRejected, kCancelled, kRevoked, kExpired };

std::string_view to_string(ExportState s);
std::optional<ExportState> parse_export_state(std::string_view s);
inline bool is_live(ExportState s) { return s == ExportState::kPending || s == ExportState::kApproved; }

struct HistoryEntry {
  int64_t time_ms = 0;
  std::string actor;
  std::string action;  // requested, approved, rejected, extended, revoked, cancelled, expired
  std::optional<ExportState> from;
  ExportState to = ExportState::kPending;
  std::string comment;
  int64_t audit_seq = 0;
};

// One step of an import's own history: a transition (from != to), or a change of what an
// active import points at (from == to, `reason` says what changed).
struct ImportHistoryEntry {
  std::string import_id;
  int64_t n = 0;  // the import's version after the step
  int64_t time_ms = 0;
  std::string actor;
  std::optional<std::string> from;
  std::string to;
  std::string reason;
  int64_t audit_seq = 0;
};

struct ExportRecord {
  int64_t seq = 0;  // insertion order; list cursor
  std::string id;
  std::string mesh;
  std::string service;
  int port = 0;
  std::string protocol;
  std::string zone;
  std::string alias;
  std::vector<std::string> peers;
  std::vector<std::string> metrics;
  bool proxy_protocol = false;
  std::string sni;
  ExportState state = ExportState::kPending;
  int64_t version = 1;
  std::string requested_by;
  int64_t requested_at_ms = 0;
  std::string reason;
  int64_t ttl_s = 0;
  int64_t pending_expires_at_ms = 0;
  std::optional<std::string> decided_by;
  std::optional<int64_t> approved_at_ms;
  std::optional<int64_t> expires_at_ms;
  std::optional<std::string> l7;            // the L7 rules' canonical JSON; none: a TCP export
  std::optional<std::string> l7_change;     // rules proposed to replace them, waiting for an approver
  std::optional<std::string> l7_change_by;  // who proposed them
  std::vector<HistoryEntry> history;
};

enum class ImportState { kPendingAcceptance, kActive, kStale, kFailed, kRejected, kWithdrawn };

std::string_view to_string(ImportState s);
std::optional<ImportState> parse_import_state(std::string_view s);

struct ImportRecord {
  int64_t seq = 0;
  std::string id;  // "<peer>.<export_id>"
  std::string peer;
  std::string export_id;
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
  std::optional<int64_t> approved_at_ms;
  std::optional<int64_t> expires_at_ms;
  ImportState state = ImportState::kPendingAcceptance;
  std::string reason;
  int64_t version = 1;
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  bool accepted = false;
  std::optional<int> local_port;
  std::optional<std::string> l7;  // the rules the peer carried (canonical JSON); none: TCP
};

struct PeerRecord {
  std::string domain;
  int64_t revision = 0;
  std::optional<int64_t> last_success_ms;
  std::string last_error;
  std::optional<int64_t> last_error_ms;
  std::optional<int64_t> quarantined_since_ms;
  std::string quarantined_by;
  std::string quarantine_reason;
  std::string last_refusal;  // reason of the last refused catalog, empty after an accepted one
};

// A broker of the domain as it last reported itself (migrations/0005_replicas.sql).
struct ReplicaRecord {
  std::string id;
  std::string address;  // its admin API
  bool leader = false;
  int64_t last_heartbeat_ms = 0;
};

// A peer added through the admin API: proposed by one admin, active once another approved it.
enum class PeeringState { kProposed, kActive };

std::string_view to_string(PeeringState s);
std::optional<PeeringState> parse_peering_state(std::string_view s);

struct PeeringRecord {
  std::string domain;
  PeeringState state = PeeringState::kProposed;
  std::string bundle;  // the bundle's canonical JSON
  std::string import_policy = "manual";
  int64_t max_exports = 1000;
  std::optional<int64_t> max_egress_ports;  // none: the egress range divided among the peers
  std::string reason;
  std::string proposed_by;
  int64_t proposed_ms = 0;
  std::optional<std::string> approved_by;
  std::optional<int64_t> approved_ms;
  // A new bundle for an active peer (a CA rollover), waiting for its own approval.
  std::optional<std::string> next_bundle;
  std::optional<std::string> next_by;
  std::optional<int64_t> next_ms;
  int64_t version = 1;
};

// A head of a peer's audit log that this domain witnessed (witness_repository.hpp).
struct WitnessedHeadRecord {
  std::string peer;
  std::string kind;  // kRecentHead, kHourlyHead or kEvidenceHead
  audit::WitnessedHead witnessed;
  int64_t witnessed_ms = 0;
  // Evidence only: the head that contradicted it, and when that came.
  std::optional<int64_t> contradicted_by_seq;
  std::optional<std::string> contradicted_by_hash;
  std::optional<int64_t> contradicted_ms;
};
inline constexpr const char* kRecentHead = "recent";
inline constexpr const char* kHourlyHead = "hourly";
inline constexpr const char* kEvidenceHead = "evidence";

}  // namespace meshfed::store
