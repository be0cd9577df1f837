// Exports: the export records, their peers and history.
// One aggregate's rows, as for each: `...Queries` reads, made from the Reader of a read or the
// Writer of a transaction; `...Repository` adds the writes and is made only from a Writer. Every
// operation returns a Result: a store failure (a lost connection, a full disk, a row this
// binary cannot read) is the operation's Error, naming it, never an exception.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::store {

struct ExportQuery {
  std::optional<ExportState> state;
  int64_t after_seq = 0;
  int limit = 100;
};

class ExportQueries {
 public:
  explicit ExportQueries(const Reader& tx) : tx_(tx) {}

  Result<bool> exists(const std::string& id);
  Result<std::optional<ExportRecord>> get(const std::string& id);
  Result<std::vector<ExportRecord>> list(const ExportQuery& q);
  // Ids of live exports scoped to `peer` whose alias is `alias`.
  Result<std::vector<std::string>> live_ids_with_alias(const std::string& alias, const std::string& peer);
  // Ids of live exports whose pending or approval deadline is at or before `now_ms`.
  Result<std::vector<std::string>> due_for_expiry(int64_t now_ms);
  Result<std::optional<int64_t>> next_deadline();
  Result<std::map<std::string, int64_t>> count_by_state();
  Result<std::map<std::pair<std::string, std::string>, int64_t>> count_by_peer_and_state();

  // One row per peer of each approved export that names metrics and expires after `now_ms`:
  // the metrics exporter's input, read without walking the exports that name none.
  struct MetricSelection {
    std::string peer;
    std::string service;
    std::string alias;
    std::vector<std::string> metrics;
  };
  Result<std::vector<MetricSelection>> metric_selections(int64_t now_ms);

  // Approved exports counted by what they point at (mesh, service, zone, port): a catalog of
  // any size has few distinct targets to check against the inventory.
  struct Target {
    std::string mesh;
    std::string service;
    std::string zone;
    int64_t port = 0;
    int64_t exports = 0;
  };
  Result<std::vector<Target>> approved_targets();

  struct HistoryRef {
    std::string export_id;
    int64_t n;
    std::string action;
    int64_t audit_seq;
  };
  Result<std::vector<HistoryRef>> all_history_refs();

 protected:
  ExportRecord read_row(Statement& s);
  const Reader& tx_;
};

class ExportRepository : public ExportQueries {
 public:
  explicit ExportRepository(const Writer& tx) : ExportQueries(tx) {}

  Status insert(const ExportRecord& e);
  // Persists the mutable fields (state, version, decision, times, ttl).
  Status update(const ExportRecord& e);
  Status append_history(const std::string& export_id, const HistoryEntry& h);
};

}  // namespace meshfed::store
