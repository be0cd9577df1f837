#include "meshfed/workflow/restore.hpp"

#include <nlohmann/json.hpp>

#include <map>

#include "meshfed/core/text.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/catalog_repository.hpp"
#include "meshfed/store/export_repository.hpp"
#include "meshfed/workflow/export_workflow.hpp"

namespace meshfed::workflow {
namespace {

using store::ExportRecord;
using store::ExportState;

// The live exports of a store, by id, a page at a time.
Result<std::map<std::string, ExportRecord>> live_exports(store::ExportQueries& repo) {
  std::map<std::string, ExportRecord> out;
  for (const ExportState state : {ExportState::kPending, ExportState::kApproved}) {
    for (int64_t after = 0;;) {
      MESHFED_ASSIGN_OR_RETURN(auto page, repo.list({state, after, 1000}));
      if (page.empty()) break;
      after = page.back().seq;
      for (auto& e : page) out.emplace(e.id, std::move(e));
    }
  }
  return out;
}

}  // namespace

Result<RestoreOutcome> settle_restore(store::Database* replaced, store::Database& restored, TimePoint now,
                                      const std::string& actor, const std::string& backup) {
  std::map<std::string, ExportRecord> live;
  MESHFED_RETURN_IF_ERROR(restored.read([&](store::Reader& tx) -> Status {
    store::ExportQueries repo(tx);
    MESHFED_ASSIGN_OR_RETURN(live, live_exports(repo));
    return {};
  }));

  int64_t replaced_revision = 0;
  std::string replaced_head;
  RestoreOutcome out;
  if (replaced) {
    MESHFED_RETURN_IF_ERROR(replaced->read([&](store::Reader& tx) -> Status {
      MESHFED_ASSIGN_OR_RETURN(replaced_revision, store::CatalogQueries(tx).revision());
      MESHFED_ASSIGN_OR_RETURN(const auto head, store::AuditQueries(tx).head());
      replaced_head = std::to_string(head.seq) + ":" + head.hash;
      store::ExportQueries repo(tx);
      for (const auto& [id, e] : live) {
        MESHFED_ASSIGN_OR_RETURN(const auto now_there, repo.get(id));
        if (!now_there || store::is_live(now_there->state)) continue;
        KeptEnded k{id, now_there->state, now_there->decided_by.value_or(""), 0};
        if (!now_there->history.empty()) {
          k.by = now_there->history.back().actor;
          k.at_ms = now_there->history.back().time_ms;
        }
        out.kept_ended.push_back(std::move(k));
      }
      return {};
    }));
  }

  MESHFED_RETURN_IF_ERROR(restored.transaction([&](store::Writer& tx) -> Status {
    MESHFED_RETURN_IF_ERROR(store::CatalogRepository(tx).restart_above(replaced_revision));
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& k : out.kept_ended) {
      ExportRecord e = live.at(k.id);
      const ExportState from = e.state;
      e.state = k.state;
      ++e.version;
      const std::string comment = "stays " + std::string(to_string(k.state)) + ": " + k.by + " ended it at " +
                                  format_rfc3339(from_unix_ms(k.at_ms)) + " in the store this restore replaced";
      // The history word of an ending is its state's name (revoked, expired, rejected, cancelled).
      MESHFED_RETURN_IF_ERROR(record_transition(tx, now, e, actor, std::string(to_string(k.state)), from, comment));
      kept.push_back({{"export", k.id}, {"state", std::string(to_string(k.state))}, {"by", k.by}});
    }
    MESHFED_ASSIGN_OR_RETURN(out.revision, store::CatalogRepository(tx).revision());
    nlohmann::json details = {{"backup", backup}, {"kept_ended", std::move(kept)}, {"revision", out.revision}};
    if (replaced) details["replaced_head"] = replaced_head;
    MESHFED_ASSIGN_OR_RETURN(const auto entry,
                             store::AuditRepository(tx).append(now, actor, "store.restored", "store", details));
    out.audit_seq = entry.seq;
    return {};
  }));
  return out;
}

}  // namespace meshfed::workflow
