#include "meshfed/workflow/audit_archive.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

#include "meshfed/core/durable_file.hpp"
#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/workflow/principal.hpp"

namespace meshfed::workflow {
namespace {

namespace fs = std::filesystem;

// An archived line is an entry as the store held it: far below this, whatever its details.
constexpr JsonLimits kArchiveLineLimits{1024 * 1024, 32};

Error file_error(const std::string& what, const fs::path& file) {
  return make_error(ErrorCode::kUnavailable, "cannot " + what + " " + file.string() + ": " + std::strerror(errno));
}

std::string segment_name(int64_t first, int64_t last) {
  return "audit-" + std::to_string(first) + "-" + std::to_string(last) + ".jsonl";
}

}  // namespace

std::optional<Checkpoint> checkpoint_of(const audit::Entry& e) {
  if (e.action != kCheckpointAction || !e.details.is_object()) return std::nullopt;
  const auto& d = e.details;
  auto number = [&](const char* key) { return d.contains(key) && d[key].is_number_integer(); };
  auto text = [&](const char* key) { return d.contains(key) && d[key].is_string(); };
  if (!number("first_seq") || !number("last_seq") || !text("first_hash") || !text("last_hash") || !text("file")) {
    return std::nullopt;
  }
  return Checkpoint{d["first_seq"], d["last_seq"], d["first_hash"], d["last_hash"], d["file"]};
}

namespace {

// The next line of `in` into `line`, read a bounded chunk at a time: false at the end, or when
// the line is longer than `max` (then `line` holds `max` + 1 bytes of it, no more).
bool next_line(std::istream& in, std::string& line, size_t max) {
  line.clear();
  for (int c; (c = in.get()) != std::char_traits<char>::eof();) {
    if (c == '\n') return true;
    line.push_back(static_cast<char>(c));
    if (line.size() > max) return false;
  }
  return !line.empty();
}

}  // namespace

Result<std::vector<audit::Entry>> read_segment(const fs::path& dir, const Checkpoint& cp) {
  const fs::path file = dir / cp.file;
  auto bad = [&](const std::string& why) -> Error {
    return make_error(ErrorCode::kInvalidArgument, "archive " + file.string() + ": " + why);
  };
  // The name is the checkpoint's, which is ours: still, it must stay inside the folder.
  if (cp.file != segment_name(cp.first_seq, cp.last_seq)) return bad("not the name its checkpoint gives");
  std::ifstream in(file);
  if (!in) return file_error("read", file);
  std::vector<audit::Entry> entries;
  std::string line;
  while (next_line(in, line, kArchiveLineLimits.max_bytes)) {
    const int64_t expected = cp.first_seq + static_cast<int64_t>(entries.size());
    auto j = parse_strict_json(line, kArchiveLineLimits, "archive line");
    if (!j) return bad("line " + std::to_string(entries.size() + 1) + ": " + j.error().message);
    auto e = audit::from_json(*j);
    if (!e) return bad("line " + std::to_string(entries.size() + 1) + " is not an audit entry");
    if (e->seq != expected) return bad("entry " + std::to_string(expected) + " is missing");
    entries.push_back(std::move(*e));
    if (e->seq > cp.last_seq) break;
  }
  if (line.size() > kArchiveLineLimits.max_bytes) {
    return bad("line " + std::to_string(entries.size() + 1) + " is longer than " +
               std::to_string(kArchiveLineLimits.max_bytes) + " bytes");
  }
  if (entries.empty() || entries.back().seq != cp.last_seq) {
    return bad("holds entries " + std::to_string(cp.first_seq) + " to " +
               (entries.empty() ? std::string("none") : std::to_string(entries.back().seq)) + ", its checkpoint " +
               std::to_string(cp.first_seq) + " to " + std::to_string(cp.last_seq));
  }
  if (entries.front().hash != cp.first_hash || entries.back().hash != cp.last_hash) {
    return bad("its first or last hash is not the one its checkpoint recorded (the file was changed)");
  }
  return entries;
}

Result<std::optional<audit::Entry>> archived_entry(const fs::path& dir, int64_t seq) {
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    int64_t first = 0;
    int64_t last = 0;
    const std::string name = f.path().filename().string();
    if (std::sscanf(name.c_str(), "audit-%ld-%ld.jsonl", &first, &last) != 2 || seq < first || seq > last ||
        name != segment_name(first, last)) {
      continue;
    }
    std::ifstream in(f.path());
    if (!in) return file_error("read", f.path());
    std::string line;
    for (int64_t at = first; next_line(in, line, kArchiveLineLimits.max_bytes); ++at) {
      if (at != seq) continue;
      auto j = parse_strict_json(line, kArchiveLineLimits, "archive line");
      auto e = j ? audit::from_json(*j) : std::nullopt;
      if (!e || e->seq != seq) {
        return make_error(ErrorCode::kInvalidArgument,
                          "archive " + f.path().string() + ": entry " + std::to_string(seq) + " is not readable");
      }
      return e;
    }
  }
  return std::optional<audit::Entry>();
}

Result<std::vector<ArchivedSegment>> archive_audit(store::Database& db, TimePoint now,
                                                   const AuditArchiveSettings& settings) {
  std::error_code ec;
  fs::create_directories(settings.dir, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + settings.dir.string() + ": " + ec.message());
  fs::permissions(settings.dir, fs::perms::owner_all, ec);
  const std::string cutoff = format_rfc3339(now - std::chrono::hours(24) * settings.days);
  std::vector<ArchivedSegment> made;
  while (static_cast<int>(made.size()) < settings.max_segments_per_run) {
    std::optional<ArchivedSegment> segment;
    Status st = db.leader_transaction([&](store::Writer& tx) -> Status {
      store::AuditRepository audit(tx);
      // The common case, every hour: the oldest entry is within the retention, and one row says so.
      MESHFED_ASSIGN_OR_RETURN(const auto first_entry, audit.list(0, 1));
      if (first_entry.empty() || first_entry.front().time >= cutoff) return {};
      MESHFED_ASSIGN_OR_RETURN(auto oldest, audit.list(0, static_cast<int>(settings.max_entries_per_segment)));
      // The oldest entries in chain order, up to the first one the retention keeps.
      size_t due = 0;
      while (due < oldest.size() && oldest[due].time < cutoff) ++due;
      if (due == 0) return {};
      oldest.resize(due);
      const auto& first = oldest.front();
      const auto& last = oldest.back();
      std::string text;
      for (const auto& e : oldest)
        text += audit::to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      const std::string name = segment_name(first.seq, last.seq);
      // Whole and on the disk before this returns: the rows go only once their copy survives a crash.
      MESHFED_RETURN_IF_ERROR(replace_file_durably(settings.dir / name, text));
      segment = ArchivedSegment{first.seq, last.seq, settings.dir / name};
      // The checkpoint first: with every row archived, the chain's head would be gone.
      MESHFED_RETURN_IF_ERROR(audit.append(now, kSystemActor, kCheckpointAction, "audit",
                                           {{"first_seq", first.seq},
                                            {"last_seq", last.seq},
                                            {"first_hash", first.hash},
                                            {"last_hash", last.hash},
                                            {"entries", static_cast<int64_t>(oldest.size())},
                                            {"file", name},
                                            {"older_than", cutoff}}));
      return audit.delete_through(last.seq);
    });
    if (!st) {
      // Not committed: the rows are still in the store, and the next run writes the file again.
      if (segment) fs::remove(segment->file, ec);
      return st.error();
    }
    if (!segment) break;
    spdlog::info("audit: entries {} to {} archived to {}", segment->first_seq, segment->last_seq,
                 segment->file.string());
    made.push_back(std::move(*segment));
  }
  return made;
}

}  // namespace meshfed::workflow
