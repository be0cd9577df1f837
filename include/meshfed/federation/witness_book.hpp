// This domain as the witness of its peers' audit logs. Each catalog answer from a peer carries
// the head of the peer's log, signed by its broker; the watcher checks that signature against
// the certificate the peer's broker proved in the handshake and hands the head here, on the
// store thread. Kept, each head is countersigned by our broker key and answered back to the
// peer on GET /federation/v1/witness (witness_check.hpp), so that the peer can check its own
// history against what others saw of it.
//
// Kept per peer: the kRecentHeads newest heads, the first head of every hour for
// `witness_days`, and up to kMostEvidence heads a later head contradicted. A head contradicts
// what was witnessed when its seq is lower than the newest one's (a rollback: an old backup
// restored, entries deleted) or when its hash differs from a kept head's at the same seq (a
// rewrite): that is a witness conflict, counted in meshfed_audit_witness_conflicts_total{peer}
// and written to our audit log (at most one entry per peer per hour: a hostile peer cannot
// flood it), and the contradicted head is kept as evidence.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/audit/head.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/mutex.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/metrics/registry.hpp"
#include "meshfed/pki/signing.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::federation {

inline constexpr int64_t kRecentHeads = 16;
inline constexpr int64_t kMostEvidence = 32;

// What a peer's witnessed heads say, for GET /api/v1/peers and the console.
struct WitnessState {
  std::optional<store::WitnessedHeadRecord> newest;
  std::vector<store::WitnessedHeadRecord> evidence;  // contradicted heads, oldest first
};
WitnessState witness_state(const std::vector<store::WitnessedHeadRecord>& heads);

class WitnessBook {
 public:
  // `domain`: ours, the witness's name in countersignatures; `signer`: our broker key as of the
  // last reload; `witness_days`: retention.witness_days.
  WitnessBook(store::Database& db, const Clock& clock, metrics::Registry& metrics, std::string domain,
              std::function<std::shared_ptr<const pki::Signer>()> signer, std::function<int64_t()> witness_days);

  // Keeps `head` of `peer`'s log, whose signature the caller has checked (store thread). True
  // when it contradicted what was witnessed before.
  Result<bool> witness(const std::string& peer, const audit::SignedHead& head);
  // Drops heads older than the retention (store thread; the periodic sweep).
  Status prune();

  // GET /federation/v1/witness for `peer`: what we kept of its log (any thread, through `reads`).
  Result<std::string> answer(store::Reads& reads, const std::string& peer) const;

  const std::string& domain() const { return domain_; }

 private:
  store::Database& db_;
  const Clock& clock_;
  metrics::Family& conflicts_;
  std::string domain_;
  std::function<std::shared_ptr<const pki::Signer>()> signer_;
  std::function<int64_t()> witness_days_;
};

// Our own audit head as catalog answers carry it, signed by our broker key: signed once per head
// and key, however many peers ask (thread-safe).
class AuditHeadSigner {
 public:
  AuditHeadSigner(std::string domain, std::function<std::shared_ptr<const pki::Signer>()> signer)
      : domain_(std::move(domain)), signer_(std::move(signer)) {}
  // The compact JSON {seq, hash, time, signature}.
  std::string signed_json(const audit::Head& head);

 private:
  const std::string domain_;
  const std::function<std::shared_ptr<const pki::Signer>()> signer_;
  Mutex mu_;
  audit::Head head_ GUARDED_BY(mu_);
  std::shared_ptr<const pki::Signer> signed_with_ GUARDED_BY(mu_);
  std::string json_ GUARDED_BY(mu_);
};

// `body` (a catalog answer's JSON object) with `head_json` as its audit_head.
std::string with_audit_head(std::string body, const std::string& head_json);

}  // namespace meshfed::federation
