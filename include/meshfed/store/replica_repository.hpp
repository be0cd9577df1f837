// Replicas: the brokers of this domain sharing one PostgreSQL store, by heartbeat.
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

}  // namespace meshfed::store
