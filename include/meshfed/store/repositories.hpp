// Row access, one pair of classes per aggregate: `...Queries` read, made from the Reader of
// Database::read() or ReadPool::read() (or the Writer of a transaction); `...Repository` adds
// the writes and is made only from a transaction's Writer. Every operation returns a Result:
// a store failure (a lost connection, a full disk, a row this binary cannot read) is the
// operation's Error, naming it, never an exception into the caller's transaction body.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "meshfed/audit/chain.hpp"
#include "meshfed/core/clock.hpp"
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

// The catalog revision counter and its change log (migrations/0002_catalog.sql).
class CatalogQueries {
 public:
  explicit CatalogQueries(const Reader& tx) : tx_(tx) {}

  Result<int64_t> revision();
  // The oldest revision a delta can start from; older `since` values need a full snapshot.
  Result<int64_t> floor();
  // Distinct export ids changed after `since`.
  Result<std::vector<std::string>> changed_after(int64_t since);
  // Approved exports scoped to `peer` whose expiry is after `now_ms` (among `only`, if given),
  // without history or peer lists.
  Result<std::vector<ExportRecord>> visible_to(const std::string& peer, int64_t now_ms,
                                               const std::vector<std::string>* only = nullptr);
  Result<bool> scoped_to(const std::string& export_id, const std::string& peer);

 protected:
  const Reader& tx_;
};

class CatalogRepository : public CatalogQueries {
 public:
  explicit CatalogRepository(const Writer& tx) : CatalogQueries(tx) {}

  // Records that `export_id` changed; returns the new revision.
  Result<int64_t> record_change(const std::string& export_id, int64_t time_ms);
  // Drops change rows older than `keep` revisions and moves the floor.
  Status prune(int64_t keep);
  // Starts the change log anew past `revision` (a restored store, whose peers may hold a newer
  // revision of the store it replaced): the revision and the floor become revision + 1 and no
  // change is kept, so every peer's next request gets a full snapshot.
  Status restart_above(int64_t revision);
};

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

class PeerQueries {
 public:
  explicit PeerQueries(const Reader& tx) : tx_(tx) {}
  // The stored record, or a fresh one for a peer never seen.
  Result<PeerRecord> get(const std::string& domain);

 protected:
  const Reader& tx_;
};

class PeerRepository : public PeerQueries {
 public:
  explicit PeerRepository(const Writer& tx) : PeerQueries(tx) {}
  Status save(const PeerRecord& p);
};

class ReplicaQueries {
 public:
  explicit ReplicaQueries(const Reader& tx) : tx_(tx) {}
  // Replicas heard from at or after `since_ms`, by id.
  Result<std::vector<ReplicaRecord>> seen_since(int64_t since_ms);

 protected:
  const Reader& tx_;
};

class ReplicaRepository : public ReplicaQueries {
 public:
  explicit ReplicaRepository(const Writer& tx) : ReplicaQueries(tx) {}
  // Records that `r` is alive at `r.last_heartbeat_ms`. A leader then clears every other
  // replica's leader flag, which a deposed leader that cannot reach the store left set.
  Status heartbeat(const ReplicaRecord& r);
};

class AuditQueries {
 public:
  explicit AuditQueries(const Reader& tx) : tx_(tx) {}

  struct Head {
    int64_t seq = 0;
    std::string hash = audit::kGenesisHash;
  };
  Result<Head> head();
  Result<std::vector<audit::Entry>> list(int64_t after_seq, int limit);
  Result<std::optional<audit::Entry>> get(int64_t seq);

 protected:
  const Reader& tx_;
};

class AuditRepository : public AuditQueries {
 public:
  explicit AuditRepository(const Writer& tx) : AuditQueries(tx) {}

  // Fills seq, prev_hash and hash, and inserts the entry.
  Result<audit::Entry> append(audit::Entry e);
  // The same, for an entry made of its parts, stamped with `time`.
  Result<audit::Entry> append(TimePoint time, std::string actor, std::string action, std::string object,
                              nlohmann::json details);
  // Archiving (workflow/audit_archive.hpp): the entries up to `seq` leave the store.
  Status delete_through(int64_t seq);
};

}  // namespace meshfed::store
