// The broker's periodic work, run every tick on the store thread (checked): expiry every tick,
// imports' staleness and the inventory every second, the catalog change log and withdrawn
// imports past their retention pruned every minute, audit entries past theirs archived every hour,
// authentication failures audited as one summary a minute, and, while
// the store cannot write, a small write every tick so that readiness comes back by itself. Expiry, staleness and
// pruning run on the domain's leader only; every replica reads its inventory and audits its own
// authentication failures. The caller passes the
// time, so the schedule is tested without waiting.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/thread_owner.hpp"
#include "meshfed/federation/catalog.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "route_publisher.hpp"

namespace meshfed::app {

struct PeriodicJobsDeps {
  workflow::ExportWorkflow& workflow;
  federation::ImportManager& imports;
  federation::Catalog* catalog;  // null without a peer API
  controlplane::Adapter& adapter;
  RoutePublisher& routes;
  std::function<void()> inventory_changed;                        // after a new inventory was read
  std::function<std::map<std::string, int64_t>()> auth_failures;  // taken since the last call
  std::function<void(const std::string& op)> store_error;         // counted by operation
  std::function<bool()> leading;     // replicas: expiry and pruning run on the leader alone; unset: always
  store::Database* store = nullptr;  // after a write failed, probed every tick until a write succeeds
  std::function<int64_t()> withdrawn_imports_days;  // retention; unset: withdrawn imports are kept
  std::function<void()> archive_audit;              // audit entries past their retention; unset: none
};

class PeriodicJobs {
 public:
  static constexpr auto kInventoryCheck = std::chrono::seconds(1);
  static constexpr auto kCatalogPruneEvery = std::chrono::seconds(60);  // and withdrawn imports
  static constexpr auto kAuthSummaryEvery = std::chrono::seconds(60);
  static constexpr auto kAuditArchiveEvery = std::chrono::hours(1);
  // Catalog changes kept for deltas: a peer away for fewer changes than this resumes with a
  // delta, one away longer gets a full snapshot.
  static constexpr int64_t kCatalogChangesKept = 100000;

  using Time = std::chrono::steady_clock::time_point;
  // `start`: the first authentication summary covers the minute after it.
  PeriodicJobs(PeriodicJobsDeps deps, Time start) : deps_(std::move(deps)), last_auth_summary_(start) {}

  void run(Time now);

 private:
  void watch_store_writes();
  PeriodicJobsDeps deps_;
  Time last_inventory_check_{};
  Time last_catalog_prune_{};
  Time last_imports_prune_{};
  std::optional<Time> last_audit_archive_;  // the first tick archives what is due
  Time last_auth_summary_;
  ThreadOwner owner_{"the broker's periodic jobs"};
};

}  // namespace meshfed::app
