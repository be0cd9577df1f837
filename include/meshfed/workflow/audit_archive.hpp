// The audit log over years: entries older than the retention leave the store for segment files,
// and the chain stays verifiable. A segment is one file, `audit-<first>-<last>.jsonl` (one
// entry per line as the API shows it, prev_hash and hash included), written and synced before
// its rows are deleted; the transaction that deletes them appends an `audit.checkpoint` entry
// naming the segment's first and last seq and hash. The live chain then starts right after the
// newest checkpoint's last entry, which anchors it; the segments, read back from the newest
// checkpoint to the oldest, carry the whole history back to the first entry.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/audit/chain.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"

namespace meshfed::workflow {

inline constexpr const char* kCheckpointAction = "audit.checkpoint";

struct AuditArchiveSettings {
  std::filesystem::path dir;  // created 0700 when missing
  int64_t days = 365;         // entries older than this are archived
  int64_t max_entries_per_segment = 100000;
  int max_segments_per_run = 10;
};

struct ArchivedSegment {
  int64_t first_seq = 0;
  int64_t last_seq = 0;
  std::filesystem::path file;
};

// Archives what the retention has passed, as a leader-only write (one transaction per
// segment); the segments made, oldest first.
Result<std::vector<ArchivedSegment>> archive_audit(store::Database& db, TimePoint now,
                                                   const AuditArchiveSettings& settings);

// What a checkpoint entry says about its segment; nothing when `e` is not a well-formed one.
struct Checkpoint {
  int64_t first_seq = 0;
  int64_t last_seq = 0;
  std::string first_hash;
  std::string last_hash;
  std::string file;  // its name in the archive folder
};
std::optional<Checkpoint> checkpoint_of(const audit::Entry& e);

// The entries of the segment `cp` names, read from `dir` and checked against it (every line an
// entry, seqs first..last without a gap, the first and last hashes as recorded); an error that
// names the file and the problem otherwise.
Result<std::vector<audit::Entry>> read_segment(const std::filesystem::path& dir, const Checkpoint& cp);

// The archived entry `seq`, from the segment in `dir` whose name covers it; nothing when no
// segment there does. The segment itself is verify_audit()'s to check.
Result<std::optional<audit::Entry>> archived_entry(const std::filesystem::path& dir, int64_t seq);

}  // namespace meshfed::workflow
