// Peers: what this domain keeps of each peer (its revision, errors, quarantine).
// One aggregate's rows, as for each: `...Queries` reads, made from the Reader of a read or the
// Writer of a transaction; `...Repository` adds the writes and is made only from a Writer. Every
// operation returns a Result: a store failure (a lost connection, a full disk, a row this
// binary cannot read) is the operation's Error, naming it, never an exception.
#pragma once

#include <string>

#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::store {

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

}  // namespace meshfed::store
