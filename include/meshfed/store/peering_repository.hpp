// Peerings: the peers added through the admin API, each with its bundle and who proposed and
// approved it (peers from the config file are not stored).
// One aggregate's rows, as for each: `...Queries` reads, made from the Reader of a read or the
// Writer of a transaction; `...Repository` adds the writes and is made only from a Writer. Every
// operation returns a Result: a store failure (a lost connection, a full disk, a row this
// binary cannot read) is the operation's Error, naming it, never an exception.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::store {

class PeeringQueries {
 public:
  explicit PeeringQueries(const Reader& tx) : tx_(tx) {}
  Result<std::optional<PeeringRecord>> get(const std::string& domain);
  // Every peering, by domain (their number is bounded where they are proposed).
  Result<std::vector<PeeringRecord>> list();

 protected:
  const Reader& tx_;
};

class PeeringRepository : public PeeringQueries {
 public:
  explicit PeeringRepository(const Writer& tx) : PeeringQueries(tx) {}
  // Inserts or updates by domain.
  Status save(const PeeringRecord& p);
  // Whether there was one to remove.
  Result<bool> remove(const std::string& domain);
};

}  // namespace meshfed::store
