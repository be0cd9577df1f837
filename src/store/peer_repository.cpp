#include "meshfed/store/peer_repository.hpp"

namespace meshfed::store {

Result<PeerRecord> PeerQueries::get(const std::string& domain) {
  return guarded(tx_, "cannot read the peer", [&]() -> PeerRecord {
    PeerRecord p;
    p.domain = domain;
    Statement s(tx_,
                "SELECT revision, last_success, last_error, last_error_at, quarantined_since, quarantined_by, "
                "quarantine_reason, last_refusal FROM peers WHERE domain = ?");
    s.bind(1, domain);
    if (!s.step()) return p;
    p.revision = s.int64(0);
    p.last_success_ms = s.opt_int64(1);
    p.last_error = s.text_or_empty(2);
    p.last_error_ms = s.opt_int64(3);
    p.quarantined_since_ms = s.opt_int64(4);
    p.quarantined_by = s.text_or_empty(5);
    p.quarantine_reason = s.text_or_empty(6);
    p.last_refusal = s.text(7);
    return p;
  });
}

Status PeerRepository::save(const PeerRecord& p) {
  return guarded(tx_, "cannot save the peer", [&]() {
    Statement s(
        tx_,
        "INSERT INTO peers(domain, revision, last_success, last_error, last_error_at, quarantined_since, "
        "quarantined_by, quarantine_reason, last_refusal) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(domain) DO UPDATE SET "
        "revision = excluded.revision, last_success = excluded.last_success, "
        "last_error = excluded.last_error, last_error_at = excluded.last_error_at, "
        "quarantined_since = excluded.quarantined_since, quarantined_by = excluded.quarantined_by, "
        "quarantine_reason = excluded.quarantine_reason, last_refusal = excluded.last_refusal");
    s.bind(1, p.domain);
    s.bind(2, p.revision);
    s.bind(3, p.last_success_ms);
    s.bind(4, p.last_error);
    s.bind(5, p.last_error_ms);
    s.bind(6, p.quarantined_since_ms);
    s.bind(7, p.quarantined_by);
    s.bind(8, p.quarantine_reason);
    s.bind(9, p.last_refusal);
    s.exec();
  });
}

}  // namespace meshfed::store
