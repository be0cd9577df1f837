#include "meshfed/store/witness_repository.hpp"

#include "meshfed/core/text.hpp"

namespace meshfed::store {

namespace {

constexpr const char* kWitnessColumns =
    "peer, kind, seq, hash, time, signature, witnessed_ms, countersignature, contradicted_by_seq, "
    "contradicted_by_hash, contradicted_ms";

WitnessedHeadRecord read_witnessed(const Statement& s) {
  WitnessedHeadRecord r;
  r.peer = s.text(0);
  r.kind = s.text(1);
  r.witnessed.signed_head.head = {s.int64(2), s.text(3), s.text(4)};
  r.witnessed.signed_head.signature = s.text(5);
  r.witnessed_ms = s.int64(6);
  r.witnessed.witnessed_at = format_rfc3339(from_unix_ms(r.witnessed_ms));
  r.witnessed.countersignature = s.text(7);
  r.contradicted_by_seq = s.opt_int64(8);
  r.contradicted_by_hash = s.opt_text(9);
  r.contradicted_ms = s.opt_int64(10);
  return r;
}

}  // namespace

Result<std::vector<WitnessedHeadRecord>> WitnessQueries::of_peer(const std::string& peer) {
  return guarded(tx_, "cannot read the witnessed audit heads", [&] {
    Statement s(tx_, std::string("SELECT ") + kWitnessColumns +
                         " FROM witnessed_heads WHERE peer = ? ORDER BY witnessed_ms, seq, kind");
    s.bind(1, peer);
    std::vector<WitnessedHeadRecord> out;
    while (s.step()) out.push_back(read_witnessed(s));
    return out;
  });
}

Status WitnessRepository::save(const WitnessedHeadRecord& r) {
  return guarded(tx_, "cannot keep a witnessed audit head", [&] {
    const auto& head = r.witnessed.signed_head.head;
    Statement(tx_, std::string("INSERT INTO witnessed_heads(") + kWitnessColumns +
                       ") VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(peer, kind, seq, hash) DO UPDATE SET "
                       "time = excluded.time, signature = excluded.signature, "
                       "witnessed_ms = excluded.witnessed_ms, countersignature = excluded.countersignature, "
                       "contradicted_by_seq = excluded.contradicted_by_seq, "
                       "contradicted_by_hash = excluded.contradicted_by_hash, "
                       "contradicted_ms = excluded.contradicted_ms")
        .bind(1, r.peer)
        .bind(2, r.kind)
        .bind(3, head.seq)
        .bind(4, head.hash)
        .bind(5, head.time)
        .bind(6, r.witnessed.signed_head.signature)
        .bind(7, r.witnessed_ms)
        .bind(8, r.witnessed.countersignature)
        .bind(9, r.contradicted_by_seq)
        .bind(10, r.contradicted_by_hash)
        .bind(11, r.contradicted_ms)
        .exec();
  });
}

Status WitnessRepository::remove(const WitnessedHeadRecord& r) {
  return guarded(tx_, "cannot drop a witnessed audit head", [&] {
    Statement(tx_, "DELETE FROM witnessed_heads WHERE peer = ? AND kind = ? AND seq = ? AND hash = ?")
        .bind(1, r.peer)
        .bind(2, r.kind)
        .bind(3, r.witnessed.signed_head.head.seq)
        .bind(4, r.witnessed.signed_head.head.hash)
        .exec();
  });
}

Status WitnessRepository::keep_newest(const std::string& peer, const std::string& kind, int64_t keep) {
  return guarded(tx_, "cannot prune the witnessed audit heads", [&] {
    Statement(tx_,
              "DELETE FROM witnessed_heads WHERE peer = ? AND kind = ? AND (seq, hash) NOT IN "
              "(SELECT seq, hash FROM witnessed_heads WHERE peer = ? AND kind = ? "
              "ORDER BY witnessed_ms DESC, seq DESC LIMIT ?)")
        .bind(1, peer)
        .bind(2, kind)
        .bind(3, peer)
        .bind(4, kind)
        .bind(5, keep)
        .exec();
  });
}

Status WitnessRepository::drop_before(int64_t cutoff_ms) {
  return guarded(tx_, "cannot prune the witnessed audit heads", [&] {
    Statement(tx_, "DELETE FROM witnessed_heads WHERE witnessed_ms < ?").bind(1, cutoff_ms).exec();
  });
}

}  // namespace meshfed::store
