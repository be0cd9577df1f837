// One aggregate's rows, as for each: `...Queries` reads, made from the Reader of a read or the
// Writer of a transaction; `...Repository` adds the writes and is made only from a Writer. Every
// operation returns a Result: a store failure (a lost connection, a full disk, a row this
// binary cannot read) is the operation's Error, naming it, never an exception.
#pragma once

#include <string>
#include <vector>

#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::store {

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

}  // namespace meshfed::store
