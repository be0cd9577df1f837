#include "meshfed/store/peering_repository.hpp"

#include "store/rows.hpp"

namespace meshfed::store {

using rows::stored;

namespace {

constexpr const char* kPeeringColumns =
    "domain, state, bundle, import_policy, max_exports, max_egress_ports, reason, proposed_by, proposed_ms, "
    "approved_by, approved_ms, next_bundle, next_by, next_ms, version";

PeeringRecord read_peering(const Statement& s) {
  PeeringRecord p;
  p.domain = s.text(0);
  p.state = stored(parse_peering_state, s.text(1), "peering");
  p.bundle = s.text(2);
  p.import_policy = s.text(3);
  p.max_exports = s.int64(4);
  p.max_egress_ports = s.opt_int64(5);
  p.reason = s.text(6);
  p.proposed_by = s.text(7);
  p.proposed_ms = s.int64(8);
  p.approved_by = s.opt_text(9);
  p.approved_ms = s.opt_int64(10);
  p.next_bundle = s.opt_text(11);
  p.next_by = s.opt_text(12);
  p.next_ms = s.opt_int64(13);
  p.version = s.int64(14);
  return p;
}

}  // namespace

Result<std::optional<PeeringRecord>> PeeringQueries::get(const std::string& domain) {
  return guarded(tx_, "cannot read the peering", [&]() -> std::optional<PeeringRecord> {
    Statement s(tx_, std::string("SELECT ") + kPeeringColumns + " FROM peerings WHERE domain = ?");
    s.bind(1, domain);
    if (!s.step()) return std::nullopt;
    return read_peering(s);
  });
}

Result<std::vector<PeeringRecord>> PeeringQueries::list() {
  return guarded(tx_, "cannot list the peerings", [&] {
    Statement s(tx_, std::string("SELECT ") + kPeeringColumns + " FROM peerings ORDER BY domain");
    std::vector<PeeringRecord> out;
    while (s.step()) out.push_back(read_peering(s));
    return out;
  });
}

Status PeeringRepository::save(const PeeringRecord& p) {
  return guarded(tx_, "cannot save the peering", [&] {
    Statement(tx_, std::string("INSERT INTO peerings(") + kPeeringColumns +
                       ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(domain) DO UPDATE SET "
                       "state = excluded.state, bundle = excluded.bundle, import_policy = excluded.import_policy, "
                       "max_exports = excluded.max_exports, max_egress_ports = excluded.max_egress_ports, "
                       "reason = excluded.reason, proposed_by = excluded.proposed_by, "
                       "proposed_ms = excluded.proposed_ms, approved_by = excluded.approved_by, "
                       "approved_ms = excluded.approved_ms, next_bundle = excluded.next_bundle, "
                       "next_by = excluded.next_by, next_ms = excluded.next_ms, version = excluded.version")
        .bind(1, p.domain)
        .bind(2, std::string(to_string(p.state)))
        .bind(3, p.bundle)
        .bind(4, p.import_policy)
        .bind(5, p.max_exports)
        .bind(6, p.max_egress_ports)
        .bind(7, p.reason)
        .bind(8, p.proposed_by)
        .bind(9, p.proposed_ms)
        .bind(10, p.approved_by)
        .bind(11, p.approved_ms)
        .bind(12, p.next_bundle)
        .bind(13, p.next_by)
        .bind(14, p.next_ms)
        .bind(15, p.version)
        .exec();
  });
}

Result<bool> PeeringRepository::remove(const std::string& domain) {
  return guarded(tx_, "cannot remove the peering", [&] {
    const bool existed = Statement(tx_, "SELECT 1 FROM peerings WHERE domain = ?").bind(1, domain).step();
    Statement(tx_, "DELETE FROM peerings WHERE domain = ?").bind(1, domain).exec();
    return existed;
  });
}

}  // namespace meshfed::store
