// A domain's whole state moved between stores (`meshfed store copy`): SQLite to PostgreSQL
// when a domain grows replicas, and back.
#pragma once

#include <map>
#include <string>

#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"

namespace meshfed::store {

struct CopyReport {
  std::map<std::string, int64_t> rows;  // by table
};

// Copies every table of `from` into `to`, read from one snapshot of `from` and written in one
// transaction on `to`: either all of it arrives or nothing does. Both must be at the same
// schema version, and `to` must hold no state yet (a copy never merges two domains' histories).
// Replica heartbeats are not copied; each replica reports itself again.
Result<CopyReport> copy_store(Database& from, Database& to);

}  // namespace meshfed::store
