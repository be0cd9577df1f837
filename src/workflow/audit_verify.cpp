#include "meshfed/workflow/audit_verify.hpp"

#include <map>

#include "meshfed/store/repositories.hpp"

namespace meshfed::workflow {

Result<AuditReport> verify_audit(store::Database& db, const std::optional<ExpectedHead>& expect) {
  std::vector<audit::Entry> entries;
  std::vector<store::ExportRepository::HistoryRef> refs;
  Status st = db.read([&]() -> Status {
    store::AuditRepository audit_repo(db);
    for (int64_t after = 0;;) {
      auto page = audit_repo.list(after, 10000);
      if (page.empty()) break;
      after = page.back().seq;
      for (auto& e : page) entries.push_back(std::move(e));
    }
    refs = store::ExportRepository(db).all_history_refs();
    return {};
  });
  if (!st) return st.error();

  AuditReport r;
  r.entries = static_cast<int64_t>(entries.size());
  if (!entries.empty()) {
    r.head_seq = entries.back().seq;
    r.head_hash = entries.back().hash;
  }
  auto fail = [&](std::string what) {
    r.ok = false;
    r.problem = std::move(what);
    return r;
  };
  if (auto problem = audit::verify_chain(entries)) return fail(problem->what);

  // Every export transition points at its audit entry; the entry must exist and say the same.
  std::map<int64_t, const audit::Entry*> by_seq;
  for (const auto& e : entries) by_seq[e.seq] = &e;
  for (const auto& ref : refs) {
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
