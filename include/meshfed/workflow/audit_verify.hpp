// `meshfed audit verify`: walks the whole audit chain of a store and cross-checks it against
// the export transitions, so that a changed, deleted or reordered row, and a truncated tail,
// are all caught and the first bad entry is named.
#pragma once

#include <optional>
#include <string>

#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"

namespace meshfed::workflow {

// A head recorded elsewhere: its sequence number and its hash, whole or the first
// kShortestExpectedHash hex characters (what `meshfed ctl audit` prints).
struct ExpectedHead {
  int64_t seq = 0;
  std::string hash;
};
inline constexpr size_t kShortestExpectedHash = 16;

struct AuditReport {
  bool ok = true;
  int64_t entries = 0;
  int64_t head_seq = 0;
  std::string head_hash;
  std::string problem;  // the first problem found, naming the entry
};

Result<AuditReport> verify_audit(store::Database& db, const std::optional<ExpectedHead>& expect);

}  // namespace meshfed::workflow
