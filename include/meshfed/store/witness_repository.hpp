// What this domain witnessed of its peers' audit logs (federation/witness_book.hpp keeps the
// rules: which heads, how many, for how long).
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

class WitnessQueries {
 public:
  explicit WitnessQueries(const Reader& tx) : tx_(tx) {}
  // A peer's witnessed heads, oldest first (by when witnessed, then seq).
  Result<std::vector<WitnessedHeadRecord>> of_peer(const std::string& peer);

 protected:
  const Reader& tx_;
};

class WitnessRepository : public WitnessQueries {
 public:
  explicit WitnessRepository(const Writer& tx) : WitnessQueries(tx) {}
  // Inserts, or updates the row of the same peer, kind, seq and hash.
  Status save(const WitnessedHeadRecord& r);
  Status remove(const WitnessedHeadRecord& r);
  // Drops `peer`'s heads of `kind` beyond its `keep` newest.
  Status keep_newest(const std::string& peer, const std::string& kind, int64_t keep);
  // Drops every head witnessed before `cutoff_ms`, of every peer.
  Status drop_before(int64_t cutoff_ms);
};

}  // namespace meshfed::store
