#include "meshfed/workflow/audit_verify.hpp"

#include <map>

#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/export_repository.hpp"
#include "meshfed/workflow/audit_archive.hpp"

namespace meshfed::workflow {

namespace {

// The checkpoints among `entries`, by the last entry each archived.
void collect_checkpoints(const std::vector<audit::Entry>& entries, std::map<int64_t, Checkpoint>& by_last) {
  for (const auto& e : entries) {
    if (auto cp = checkpoint_of(e)) by_last[cp->last_seq] = std::move(*cp);
  }
}

// Every archived entry back to the first, segment by segment from the one that ends just before
// `live_from`. A segment's checkpoint comes after its last entry in the chain, so it is among
// the entries already read (the live ones, or a later segment's).
Result<std::vector<audit::Entry>> read_archives(const std::filesystem::path& dir, int64_t live_from,
                                                std::map<int64_t, Checkpoint> checkpoints) {
  std::vector<std::vector<audit::Entry>> segments;  // newest first
  for (int64_t before = live_from; before > 1;) {
    const auto cp = checkpoints.find(before - 1);
    if (cp == checkpoints.end()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "no checkpoint names the archived entries before entry " + std::to_string(before));
    }
    MESHFED_ASSIGN_OR_RETURN(auto segment, read_segment(dir, cp->second));
    before = cp->second.first_seq;
    collect_checkpoints(segment, checkpoints);
    segments.push_back(std::move(segment));
  }
  std::vector<audit::Entry> out;
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    out.insert(out.end(), std::make_move_iterator(it->begin()), std::make_move_iterator(it->end()));
  }
  return out;
}

}  // namespace

Result<AuditReport> verify_audit(store::Database& db, const std::optional<ExpectedHead>& expect,
                                 const std::optional<std::filesystem::path>& archives) {
  std::vector<audit::Entry> entries;
  std::vector<store::ExportRepository::HistoryRef> refs;
  MESHFED_RETURN_IF_ERROR(db.read([&](store::Reader& tx) -> Status {
    store::AuditQueries audit_repo(tx);
    for (int64_t after = 0;;) {
      MESHFED_ASSIGN_OR_RETURN(auto page, audit_repo.list(after, 10000));
      if (page.empty()) break;
      after = page.back().seq;
      for (auto& e : page) entries.push_back(std::move(e));
    }
    MESHFED_ASSIGN_OR_RETURN(refs, store::ExportQueries(tx).all_history_refs());
    return {};
  }));

  AuditReport r;
  if (!entries.empty()) {
    r.live_from = entries.front().seq;
    r.head_seq = entries.back().seq;
    r.head_hash = entries.back().hash;
  }
  auto fail = [&](std::string what) {
    r.ok = false;
    r.problem = std::move(what);
    return r;
  };
  // Archived entries first: the live chain then continues them, or starts at its anchor.
  std::string prev_hash = audit::kGenesisHash;
  if (r.live_from > 1) {
    std::map<int64_t, Checkpoint> checkpoints;
    collect_checkpoints(entries, checkpoints);
    const auto anchor = checkpoints.find(r.live_from - 1);
    if (anchor == checkpoints.end()) {
      return fail("entries 1 to " + std::to_string(r.live_from - 1) +
                  " are gone and no checkpoint names them: rows were deleted");
    }
    prev_hash = anchor->second.last_hash;
    if (archives) {
      auto archived = read_archives(*archives, r.live_from, std::move(checkpoints));
      if (!archived) return fail(archived.error().message);
      r.archived_entries = static_cast<int64_t>(archived->size());
      archived->insert(archived->end(), std::make_move_iterator(entries.begin()),
                       std::make_move_iterator(entries.end()));
      entries = std::move(*archived);
      prev_hash = audit::kGenesisHash;
    }
  }
  r.entries = static_cast<int64_t>(entries.size());
  const int64_t first = entries.empty() ? 1 : entries.front().seq;
  if (auto problem = audit::verify_chain(entries, prev_hash, first)) return fail(problem->what);

  // Every export transition points at its audit entry; the entry must exist and say the same.
  std::map<int64_t, const audit::Entry*> by_seq;
  for (const auto& e : entries) by_seq[e.seq] = &e;
  for (const auto& ref : refs) {
    if (ref.audit_seq < first) {
      ++r.unchecked_transitions;  // archived, and the archives were not given
      continue;
    }
    auto it = by_seq.find(ref.audit_seq);
    if (it == by_seq.end()) {
      return fail("entry " + std::to_string(ref.audit_seq) + " is missing: export " + ref.export_id + " transition " +
                  std::to_string(ref.n) + " (" + ref.action + ") refers to it; the log was truncated or rows deleted");
    }
    const audit::Entry& e = *it->second;
    if (e.action != "export." + ref.action || e.object != "export/" + ref.export_id) {
      return fail("entry " + std::to_string(e.seq) + " does not record export " + ref.export_id + " " + ref.action +
                  " as its transition says");
    }
  }
  if (expect) {
    auto it = by_seq.find(expect->seq);
    if (it == by_seq.end()) {
      return fail("entry " + std::to_string(expect->seq) + " (the expected head) is missing; the log ends at " +
                  std::to_string(r.head_seq));
    }
    // The whole hash, or the 16-character prefix `meshfed ctl audit` shows (64 bits: enough that a
    // forged chain cannot be made to match it).
    const bool matches = expect->hash.size() >= kShortestExpectedHash && it->second->hash.starts_with(expect->hash);
    if (!matches) {
      return fail("entry " + std::to_string(expect->seq) + " has hash " + it->second->hash + ", expected " +
                  expect->hash);
    }
  }
  return r;
}

}  // namespace meshfed::workflow
