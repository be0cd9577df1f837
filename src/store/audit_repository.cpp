#include "meshfed/store/audit_repository.hpp"

#include <nlohmann/json.hpp>

#include "meshfed/core/text.hpp"

namespace meshfed::store {

namespace {

AuditQueries::Head read_head(const Reader& tx) {
  Statement s(tx, "SELECT seq, hash, time FROM audit ORDER BY seq DESC LIMIT 1");
  if (!s.step()) return {};
  return {s.int64(0), s.text(1), s.text(2)};
}

}  // namespace

Result<AuditQueries::Head> AuditQueries::head() {
  return guarded(tx_, "cannot read the audit log's head", [&] { return read_head(tx_); });
}

Result<audit::Entry> AuditRepository::append(audit::Entry e) {
  return guarded(tx_, "cannot append to the audit log", [&]() -> audit::Entry {
    const Head h = read_head(tx_);
    e.seq = h.seq + 1;
    e.prev_hash = h.hash;
    e.hash = audit::compute_hash(e.prev_hash, e);
    Statement s(tx_,
                "INSERT INTO audit(seq, time, actor, action, object, details, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, e.seq);
    s.bind(2, e.time);
    s.bind(3, e.actor);
    s.bind(4, e.action);
    s.bind(5, e.object);
    s.bind(6, e.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    s.bind(7, e.prev_hash);
    s.bind(8, e.hash);
    s.exec();
    return e;
  });
}

Result<audit::Entry> AuditRepository::append(TimePoint time, std::string actor, std::string action, std::string object,
                                             nlohmann::json details) {
  audit::Entry e;
  e.time = format_rfc3339(time);
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.object = std::move(object);
  e.details = std::move(details);
  return append(std::move(e));
}

static audit::Entry read_audit(Statement& s) {
  audit::Entry e;
  e.seq = s.int64(0);
  e.time = s.text(1);
  e.actor = s.text(2);
  e.action = s.text(3);
  e.object = s.text(4);
  // A row whose details were damaged must still be readable, so that verify can name it.
  e.details = nlohmann::json::parse(s.text(5), nullptr, false);
  e.prev_hash = s.text(6);
  e.hash = s.text(7);
  return e;
}

Result<std::vector<audit::Entry>> AuditQueries::list(int64_t after_seq, int limit) {
  return guarded(tx_, "cannot read the audit log", [&]() -> std::vector<audit::Entry> {
    Statement s(tx_,
                "SELECT seq, time, actor, action, object, details, prev_hash, hash FROM audit "
                "WHERE seq > ? ORDER BY seq LIMIT ?");
    s.bind(1, after_seq);
    s.bind(2, limit);
    std::vector<audit::Entry> out;
    while (s.step()) out.push_back(read_audit(s));
    return out;
  });
}

Result<std::optional<audit::Entry>> AuditQueries::get(int64_t seq) {
  return guarded(tx_, "cannot read the audit entry", [&]() -> std::optional<audit::Entry> {
    Statement s(tx_,
                "SELECT seq, time, actor, action, object, details, prev_hash, hash FROM audit "
                "WHERE seq = ?");
    s.bind(1, seq);
    if (!s.step()) return std::nullopt;
    return read_audit(s);
  });
}

Status AuditRepository::delete_through(int64_t seq) {
  return guarded(tx_, "cannot delete archived audit entries", [&]() {
    Statement s(tx_, "DELETE FROM audit WHERE seq <= ?");
    s.bind(1, seq);
    s.exec();
  });
}

}  // namespace meshfed::store
