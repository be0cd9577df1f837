// What a peer may see of our exports (DESIGN.md, "Peer API contract"): approved, unexpired
// exports scoped to it, as a full snapshot or as the changes after the revision it last saw.
// Runs on the store thread.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "meshfed/core/clock.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::federation {

struct CatalogView {
  int64_t revision = 0;
  bool full = true;
  std::vector<store::ExportRecord> exports;  // the snapshot, or the upserts of a delta
  std::vector<std::string> removals;         // delta only
  bool unchanged() const { return !full && exports.empty() && removals.empty(); }
};

// Where peers' egress gateways reach our ingress gateway.
struct IngressAddress {
  std::string host;
  int port = 0;
};

class Catalog {
 public:
  Catalog(store::Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // `since` 0, older than the change log, or newer than our revision (a restored store) gets
  // a full snapshot; otherwise the changes of `peer`'s view after `since`.
  Result<CatalogView> view(const std::string& peer, int64_t since);
  // Keeps the change log to the newest `keep` revisions.
  Status prune(int64_t keep);

 private:
  store::Database& db_;
  const Clock& clock_;
};

nlohmann::json catalog_json(const CatalogView& v, const std::string& domain, const IngressAddress& ingress);

}  // namespace meshfed::federation
