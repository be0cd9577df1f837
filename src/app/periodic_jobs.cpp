#include "periodic_jobs.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace meshfed::app {

void PeriodicJobs::run(Time now) {
  owner_.check();
  if (deps_.store) watch_store_writes();
  const bool leading = !deps_.leading || deps_.leading();
  if (auto n = leading ? deps_.workflow.expire_due() : Result<int>(0); !n) {
    deps_.store_error("expire");
    spdlog::error("expiry sweep failed: {}", n.error().message);
  }
  if (leading && deps_.catalog && now - last_catalog_prune_ >= kCatalogPruneEvery) {
    last_catalog_prune_ = now;
    if (auto st = deps_.catalog->prune(kCatalogChangesKept); !st) deps_.store_error("catalog_prune");
  }
  if (leading && deps_.withdrawn_imports_days && now - last_imports_prune_ >= kCatalogPruneEvery) {
    last_imports_prune_ = now;
    if (auto n = deps_.imports.prune_withdrawn(deps_.withdrawn_imports_days()); !n) deps_.store_error("imports_prune");
  }
  if (leading && deps_.archive_audit && (!last_audit_archive_ || now - *last_audit_archive_ >= kAuditArchiveEvery)) {
    last_audit_archive_ = now;
    deps_.archive_audit();
  }
  if (now - last_inventory_check_ >= kInventoryCheck) {
    last_inventory_check_ = now;
    if (auto st = deps_.imports.tick(); !st) {
      deps_.store_error("imports");
      spdlog::error("imports: {}", st.error().message);
    }
    const auto before = deps_.adapter.inventory();
    (void)deps_.adapter.refresh_inventory(false);
    if (deps_.adapter.inventory() != before) deps_.inventory_changed();
  }
  deps_.routes.tick();
  if (now - last_auth_summary_ >= kAuthSummaryEvery) {
    last_auth_summary_ = now;
    auto failures = deps_.auth_failures();
    if (!failures.empty()) {
      const nlohmann::json details = {{"window_s", kAuthSummaryEvery.count()}, {"by_reason", failures}};
      if (auto st = deps_.workflow.record_event(workflow::kSystemActor, "auth.failures", "admin-api", details); !st)
        spdlog::error("audit: cannot record auth failures: {}", st.error().message);
    }
  }
}

void PeriodicJobs::watch_store_writes() {
  const auto failure = deps_.store->write_failure();  // logged where it happened
  if (failure && deps_.store->probe_write()) spdlog::info("store: writes succeed again (after: {}); ready", *failure);
}

}  // namespace meshfed::app
