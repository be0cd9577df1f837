// Imports: what this domain took in from its peers, with each one's history and egress port.
// One aggregate's rows, as for each: `...Queries` reads, made from the Reader of a read or the
// Writer of a transaction; `...Repository` adds the writes and is made only from a Writer. Every
// operation returns a Result: a store failure (a lost connection, a full disk, a row this
// binary cannot read) is the operation's Error, naming it, never an exception.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::store {

class ImportQueries {
 public:
  explicit ImportQueries(const Reader& tx) : tx_(tx) {}

  Result<std::optional<ImportRecord>> get(const std::string& id);
  Result<std::vector<ImportRecord>> for_peer(const std::string& peer, const std::vector<ImportState>& states = {});
  // What the control plane is given of each import in `states` that holds an egress port: the
  // few columns reconcile needs, so that a reconcile over many imports reads no whole records.
  struct Applied {
    std::string id;
    std::string peer;
    std::string alias;
    std::string protocol;
    int local_port = 0;
    int port = 0;
    ImportState state = ImportState::kActive;
  };
  Result<std::vector<Applied>> with_egress_ports(const std::vector<ImportState>& states);
  // Failed imports that hold no egress port (the range was full): reconcile retries them.
  Result<int64_t> failed_without_port();
  // The export ids of `peer`'s imports in `states` (ids alone: a full snapshot of 100,000
  // compares against them without loading every record).
  Result<std::vector<std::string>> export_ids(const std::string& peer, const std::vector<ImportState>& states);
  // How many imports from `peer` are in each state (from the (peer, state) index, no rows read).
  Result<std::map<std::string, int64_t>> count_by_state(const std::string& peer);
  // The aliases of the peer's imports in `states` (the aliases alone: this runs on every
  // metrics scrape of a peer that may hold 100,000 imports).
  Result<std::set<std::string>> aliases(const std::string& peer, const std::vector<ImportState>& states);
  // Imports in `states` whose expiry is at or before `now_ms`.
  Result<std::vector<ImportRecord>> expiring(int64_t now_ms, const std::vector<ImportState>& states);
  Result<std::vector<ImportRecord>> list(int64_t after_seq, int limit);
  Result<std::vector<ImportRecord>> in_states(const std::vector<ImportState>& states);
  Result<std::vector<std::pair<int, std::string>>> used_ports();  // egress ports held, each with its peer
  Result<std::vector<ImportHistoryEntry>> history(const std::string& import_id, int limit = 1000);

 protected:
  const Reader& tx_;
};

class ImportRepository : public ImportQueries {
 public:
  explicit ImportRepository(const Writer& tx) : ImportQueries(tx) {}

  // Inserts or updates by id.
  Status save(const ImportRecord& r);
  // Appends a step, keeping the newest kImportStepsKept of the import's history: an import
  // that lives for years while its peer keeps renaming it must not grow without end.
  static constexpr int64_t kImportStepsKept = 1000;
  Status append_history(const ImportHistoryEntry& h);
  // Deletes up to `limit` imports withdrawn and unseen since before `before_ms`, with their
  // history; returns how many.
  Result<int64_t> prune_withdrawn(int64_t before_ms, int limit);
};

}  // namespace meshfed::store
