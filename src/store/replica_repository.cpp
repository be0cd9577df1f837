#include "meshfed/store/replica_repository.hpp"

namespace meshfed::store {

Status ReplicaRepository::heartbeat(const ReplicaRecord& r) {
  return guarded(tx_, "cannot record the replica's heartbeat", [&]() {
    Statement(
        tx_,
        "INSERT INTO replicas(id, address, leader, last_heartbeat_ms) VALUES (?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
        "address = excluded.address, leader = excluded.leader, last_heartbeat_ms = excluded.last_heartbeat_ms")
        .bind(1, r.id)
        .bind(2, r.address)
        .bind(3, r.leader)
        .bind(4, r.last_heartbeat_ms)
        .exec();
    if (r.leader) Statement(tx_, "UPDATE replicas SET leader = 0 WHERE id <> ? AND leader <> 0").bind(1, r.id).exec();
  });
}

Result<std::vector<ReplicaRecord>> ReplicaQueries::seen_since(int64_t since_ms) {
  return guarded(tx_, "cannot read the replicas", [&]() -> std::vector<ReplicaRecord> {
    Statement s(tx_,
                "SELECT id, address, leader, last_heartbeat_ms FROM replicas WHERE last_heartbeat_ms >= ? ORDER BY id");
    s.bind(1, since_ms);
    std::vector<ReplicaRecord> out;
    while (s.step()) out.push_back({s.text(0), s.text(1), s.boolean(2), s.int64(3)});
    return out;
  });
}

}  // namespace meshfed::store
