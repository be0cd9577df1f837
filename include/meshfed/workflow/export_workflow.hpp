// The governed export life cycle: request, four-eyes approval,
// rejection, cancellation, extension, revocation and expiry. Every transition is committed
// together with its history row and its audit entry, in one SQLite transaction, before the
// caller gets an answer.
//
// Runs on the store executor only (it owns the Database while it runs).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "meshfed/core/mutex.hpp"
#include "meshfed/audit/chain.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/policy/l7.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"
#include "meshfed/store/export_repository.hpp"
#include "meshfed/workflow/audit_verify.hpp"
#include "meshfed/workflow/principal.hpp"

namespace meshfed::workflow {

struct ExportRequest {
  std::string mesh;
  std::string service;
  int64_t port = 0;
  std::string zone;
  std::vector<std::string> peers;
  std::string alias;  // empty: the service name
  std::vector<std::string> metrics;
  std::optional<int64_t> ttl_s;
  bool proxy_protocol = false;
  std::string reason;
  std::optional<policy::L7Rules> l7;  // only for an http, http2 or grpc port; none: a TCP export
};

struct Decision {
  std::string comment;
  std::optional<int64_t> ttl_s;     // extend only
  std::optional<int64_t> if_match;  // the version the caller last saw
};

struct WorkflowSettings {
  std::string domain;
  std::string trust_domain;
  std::set<std::string> peers;
  int64_t default_ttl_s = 2592000;
  int64_t max_ttl_s = 7776000;
  int64_t pending_expiry_s = 604800;
};

struct ExportPage {
  std::vector<store::ExportRecord> items;
  std::optional<std::string> next;
};

// What an approver or requester does to an existing export (POST /api/v1/exports/{id}/<action>).
// kApproveL7 and kRejectL7 decide a proposed change of an approved export's L7 rules
// (propose_l7): "l7/approve", "l7/reject" in the API's paths.
enum class ExportAction { kApprove, kReject, kExtend, kRevoke, kCancel, kApproveL7, kRejectL7 };
inline constexpr ExportAction kExportActions[] = {
    ExportAction::kApprove, ExportAction::kReject,    ExportAction::kExtend,  ExportAction::kRevoke,
    ExportAction::kCancel,  ExportAction::kApproveL7, ExportAction::kRejectL7};
std::string_view to_string(ExportAction action);  // "approve", ... as in the API's paths

// Records one transition of `e` (already moved to its new state): its history row, its audit
// entry and, when peers see it, a catalog change; inside the caller's transaction. The one
// place a transition is written, for the workflow and for a restore.
// `peers_see_it` false: a step of an approved export that changes nothing its peers are told
// (a change of its rules proposed or turned down).
Status record_transition(const store::Writer& tx, TimePoint now, store::ExportRecord& e, const std::string& actor,
                         const std::string& action, std::optional<store::ExportState> from, const std::string& comment,
                         bool peers_see_it = true);

class ExportWorkflow {
 public:
  // Writes, and the reads that decide them, run on `db` (the store thread). What only answers
  // (get, list, the audit's pages and head) reads through `reads`, from any thread: the read
  // pool in a broker; null, through `db`.
  ExportWorkflow(store::Database& db, const Clock& clock, const controlplane::Adapter& cp, WorkflowSettings settings,
                 store::Reads* reads = nullptr);

  void update_settings(WorkflowSettings settings);

  // Called on the store thread after a commit that changed what these peers may see.
  // Told after a commit that changed what peers see: which peers, and which exports.
  using CatalogListener =
      std::function<void(const std::set<std::string>& peers, const std::set<std::string>& export_ids)>;
  void set_catalog_listener(CatalogListener listener);
  WorkflowSettings settings() const;

  Result<store::ExportRecord> request(const Principal& who, const ExportRequest& req);
  // Who may do what, from which state, is decided here: the roles, the four-eyes rule, If-Match.
  Result<store::ExportRecord> decide(const Principal& who, const std::string& id, const Decision& d,
                                     ExportAction action);
  Result<store::ExportRecord> approve(const Principal& who, const std::string& id, const Decision& d);
  Result<store::ExportRecord> reject(const Principal& who, const std::string& id, const Decision& d);
  Result<store::ExportRecord> extend(const Principal& who, const std::string& id, const Decision& d);
  Result<store::ExportRecord> revoke(const Principal& who, const std::string& id, const Decision& d);
  Result<store::ExportRecord> cancel(const Principal& who, const std::string& id, const Decision& d);
  // Proposes new L7 rules for an approved export (a requester or an approver); they replace the
  // rules in force once another approver approves them (decide kApproveL7), and are dropped by
  // kRejectL7 (an approver, or the proposer withdrawing them). One change waits at a time.
  Result<store::ExportRecord> propose_l7(const Principal& who, const std::string& id, const policy::L7Rules& rules,
                                         const Decision& d);

  Result<store::ExportRecord> get(const std::string& id);
  // `after` is the opaque cursor from a previous page's `next`.
  Result<ExportPage> list(std::optional<store::ExportState> state, const std::string& after, int limit);

  // Every approved export, a page at a time; stops at the first store error and returns it.
  Status for_each_approved(const std::function<void(const store::ExportRecord&)>& fn);

  Result<std::map<std::string, int64_t>> count_by_state();
  Result<std::map<std::pair<std::string, std::string>, int64_t>> count_by_peer_and_state();  // {peer, state}

  // Moves every pending or approved export whose deadline has passed to `expired`.
  Result<int> expire_due();
  // The earliest pending or approval deadline, if any (lets the caller sleep until then).
  Result<std::optional<TimePoint>> next_deadline();

  // An approved export whose service or port is not (any longer) in the inventory.
  bool target_missing(const store::ExportRecord& e) const;
  // How many approved exports point at a service or port the inventory no longer has.
  Result<int64_t> count_target_missing();
  // What each peer may receive of the metrics: approved, unexpired exports that name metrics.
  Result<std::vector<store::ExportRepository::MetricSelection>> metric_selections();

  // Audit entries after `after_seq`, and the cursor of the next page if there is one.
  Result<std::pair<std::vector<audit::Entry>, std::optional<std::string>>> audit_page(int64_t after_seq, int limit);
  // The newest entry's sequence number and hash (0 and 64 zeros when empty).
  Result<std::pair<int64_t, std::string>> audit_head();
  // Walks the whole chain and cross-checks it against the export transitions (audit_verify.hpp),
  // at most once per kVerifyAtMostEvery: in between, the last report is returned with the time
  // it was made, so that a caller asking in a loop cannot hold the store thread (store thread).
  struct VerifiedAudit {
    AuditReport report;
    TimePoint checked_at;
  };
  Result<VerifiedAudit> verify_audit();
  static constexpr auto kVerifyAtMostEvery = std::chrono::seconds(10);

  // Appends an audit entry for an event that is not an export transition.
  Status record_event(const std::string& actor, const std::string& action, const std::string& object,
                      nlohmann::json details);

 private:
  Result<std::string> new_export_id(const store::Reader& tx, const std::string& alias);

  void announce(const std::set<std::string>& peers, const std::set<std::string>& export_ids);

  store::Database& db_;
  store::Reads& reads_;
  const Clock& clock_;
  CatalogListener catalog_listener_;
  const controlplane::Adapter& cp_;
  mutable Mutex settings_mu_;
  WorkflowSettings settings_ GUARDED_BY(settings_mu_);
  std::optional<VerifiedAudit> last_verified_;  // verify_audit()'s thread only
};

nlohmann::json summary_json(const store::ExportRecord& e);

}  // namespace meshfed::workflow
