// The audit log: a hash chain of entries, appended inside the transaction it records.
// One aggregate's rows, as for each: `...Queries` reads, made from the Reader of a read or the
// Writer of a transaction; `...Repository` adds the writes and is made only from a Writer. Every
// operation returns a Result: a store failure (a lost connection, a full disk, a row this
// binary cannot read) is the operation's Error, naming it, never an exception.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshfed/audit/chain.hpp"
#include "meshfed/audit/head.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::store {

class AuditQueries {
 public:
  explicit AuditQueries(const Reader& tx) : tx_(tx) {}

  using Head = audit::Head;
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
