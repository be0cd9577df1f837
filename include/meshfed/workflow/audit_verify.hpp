// `meshfed audit verify`: walks the audit chain of a store (and of its archive segments) and
// cross-checks it against the export transitions, so that a changed, deleted or reordered row,
// and a truncated tail, are all caught and the first bad entry is named.
#pragma once

#include <filesystem>
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
  int64_t entries = 0;           // entries checked, archived ones included
  int64_t archived_entries = 0;  // of which read from archive segments
  int64_t live_from = 1;         // the store's oldest entry (after a checkpoint: the one after it)
  int64_t head_seq = 0;
  std::string head_hash;
  int64_t unchecked_transitions = 0;  // export transitions whose entry is archived, without --archives
  std::string problem;                // the first problem found, naming the entry
};

// The store's chain from its first entry, or, once archived, from the newest checkpoint (which
// must name the entry just before the store's first). With `archives`: the segments the
// checkpoints name too, back to entry 1, and the export transitions they hold.
Result<AuditReport> verify_audit(store::Database& db, const std::optional<ExpectedHead>& expect,
                                 const std::optional<std::filesystem::path>& archives = std::nullopt);

}  // namespace meshfed::workflow
