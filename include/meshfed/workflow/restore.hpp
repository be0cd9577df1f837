// What a restore of a backup must keep of the store it replaces. A backup is the state of one
// moment; since then exports may have been revoked, have expired or been rejected, and peers
// have withdrawn them. Bringing such an export back as approved would reopen a door that an
// approver closed, behind everyone's back: so an export that the replaced store has ended stays
// ended in the restored one (recorded as a transition of its own), the catalog starts anew
// above the replaced store's revision (every peer gets a full snapshot), and the restore is an
// audit entry.
#pragma once

#include <string>
#include <vector>

#include "meshfed/core/clock.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::workflow {

// An export live in the backup that the replaced store had ended.
struct KeptEnded {
  std::string id;
  store::ExportState state = store::ExportState::kRevoked;
  std::string by;     // who ended it there
  int64_t at_ms = 0;  // when
};

struct RestoreOutcome {
  std::vector<KeptEnded> kept_ended;
  int64_t revision = 0;   // the restored store's catalog revision now
  int64_t audit_seq = 0;  // the restore's own audit entry
};

// Runs on the restored store (already a copy of the backup, migrated), reading `replaced` (the
// store it replaces; null when there was none). `actor` and `backup` go into the audit entry.
Result<RestoreOutcome> settle_restore(store::Database* replaced, store::Database& restored, TimePoint now,
                                      const std::string& actor, const std::string& backup);

}  // namespace meshfed::workflow
