#include "meshfed/federation/witness_book.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "meshfed/core/text.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/witness_repository.hpp"
#include "meshfed/workflow/principal.hpp"

namespace meshfed::federation {

namespace {

using store::WitnessedHeadRecord;

constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;

bool newer(const WitnessedHeadRecord& a, const WitnessedHeadRecord& b) {
  return std::tie(a.witnessed_ms, a.witnessed.signed_head.head.seq) >
         std::tie(b.witnessed_ms, b.witnessed.signed_head.head.seq);
}

std::string short_hash(const std::string& hash) { return hash.substr(0, 16); }

}  // namespace

WitnessState witness_state(const std::vector<WitnessedHeadRecord>& heads) {
  WitnessState s;
  for (const auto& r : heads) {
    if (r.kind == store::kEvidenceHead) {
      s.evidence.push_back(r);
    } else if (r.kind == store::kRecentHead && (!s.newest || newer(r, *s.newest))) {
      s.newest = r;
    }
  }
  return s;
}

WitnessBook::WitnessBook(store::Database& db, const Clock& clock, metrics::Registry& metrics, std::string domain,
                         std::function<std::shared_ptr<const pki::Signer>()> signer,
                         std::function<int64_t()> witness_days)
    : db_(db), clock_(clock),
      conflicts_(metrics.counter("meshfed_audit_witness_conflicts_total",
                                 "Audit heads of a peer that contradicted a head witnessed before (a rollback or a "
                                 "rewrite of the peer's audit log), by peer.",
                                 {"peer"})),
      domain_(std::move(domain)), signer_(std::move(signer)), witness_days_(std::move(witness_days)) {}

Result<bool> WitnessBook::witness(const std::string& peer, const audit::SignedHead& head) {
  const int64_t now_ms = to_unix_ms(clock_.now());
  bool conflict = false;
  bool audited = false;
  const Status st = db_.leader_transaction([&](store::Writer& tx) -> Status {
    store::WitnessRepository repo(tx);
    MESHFED_ASSIGN_OR_RETURN(const auto kept, repo.of_peer(peer));
    const auto state = witness_state(kept);
    if (state.newest && state.newest->witnessed.signed_head.head == head.head) return {};  // nothing new

    // What this head contradicts: every kept head past its seq (it went back), and any at its
    // seq with another hash (a rewrite). Those become evidence and leave the line of heads,
    // which goes on from this one. Evidence is not compared again: one incident, one conflict.
    std::vector<const WitnessedHeadRecord*> contradicted;
    for (const auto& r : kept) {
      const auto& h = r.witnessed.signed_head.head;
      if (r.kind != store::kEvidenceHead &&
          (h.seq > head.head.seq || (h.seq == head.head.seq && h.hash != head.head.hash))) {
        contradicted.push_back(&r);
      }
    }
    std::set<std::pair<int64_t, std::string>> evidence_held;
    int64_t last_evidence_ms = 0;
    for (const auto& r : state.evidence) {
      evidence_held.emplace(r.witnessed.signed_head.head.seq, r.witnessed.signed_head.head.hash);
      last_evidence_ms = std::max(last_evidence_ms, r.contradicted_ms.value_or(0));
    }
    for (const auto* r : contradicted) {
      MESHFED_RETURN_IF_ERROR(repo.remove(*r));
      const auto& h = r->witnessed.signed_head.head;
      if (!evidence_held.emplace(h.seq, h.hash).second) continue;
      WitnessedHeadRecord evidence = *r;
      evidence.kind = store::kEvidenceHead;
      evidence.contradicted_by_seq = head.head.seq;
      evidence.contradicted_by_hash = head.head.hash;
      evidence.contradicted_ms = now_ms;
      MESHFED_RETURN_IF_ERROR(repo.save(evidence));
    }
    conflict = !contradicted.empty();
    audited = conflict && now_ms - last_evidence_ms >= kHourMs;
    if (audited) {
      // The newest head contradicted names the incident best.
      const auto* was = *std::max_element(contradicted.begin(), contradicted.end(),
                                          [](const auto* a, const auto* b) { return newer(*b, *a); });
      MESHFED_RETURN_IF_ERROR(store::AuditRepository(tx).append(
          clock_.now(), workflow::kSystemActor, "audit.witness_conflict", "peer/" + peer,
          {{"witnessed",
            {{"seq", was->witnessed.signed_head.head.seq},
             {"hash", was->witnessed.signed_head.head.hash},
             {"witnessed_at", was->witnessed.witnessed_at}}},
           {"presented", {{"seq", head.head.seq}, {"hash", head.head.hash}, {"time", head.head.time}}}}));
    }

    WitnessedHeadRecord kept_head;
    kept_head.peer = peer;
    kept_head.kind = store::kRecentHead;
    kept_head.witnessed = {head, format_rfc3339(from_unix_ms(now_ms)), ""};
    kept_head.witnessed_ms = now_ms;
    kept_head.witnessed.countersignature =
        signer_()->sign(audit::countersigned_text(domain_, peer, kept_head.witnessed));
    MESHFED_RETURN_IF_ERROR(repo.save(kept_head));
    // The hour's first head, unless one that still stands was kept in it.
    const bool hour_has_one = std::any_of(kept.begin(), kept.end(), [&](const WitnessedHeadRecord& r) {
      return r.kind == store::kHourlyHead && r.witnessed_ms / kHourMs == now_ms / kHourMs &&
             std::find(contradicted.begin(), contradicted.end(), &r) == contradicted.end();
    });
    if (!hour_has_one) {
      kept_head.kind = store::kHourlyHead;
      MESHFED_RETURN_IF_ERROR(repo.save(kept_head));
    }
    MESHFED_RETURN_IF_ERROR(repo.keep_newest(peer, store::kRecentHead, kRecentHeads));
    return repo.keep_newest(peer, store::kEvidenceHead, kMostEvidence);
  });
  if (!st) return st.error();
  if (conflict) conflicts_.inc({peer});
  if (audited) {  // as often as the audit entry: a hostile peer cannot flood the log either
    spdlog::error(
        "audit witness: peer {} presented audit head seq {} ({}), which contradicts what this domain "
        "witnessed of its log before: its history was rolled back or rewritten",
        peer, head.head.seq, short_hash(head.head.hash));
  }
  return conflict;
}

Status WitnessBook::prune() {
  const int64_t cutoff = to_unix_ms(clock_.now()) - witness_days_() * kDayMs;
  return db_.leader_transaction([&](store::Writer& tx) { return store::WitnessRepository(tx).drop_before(cutoff); });
}

Result<std::string> WitnessBook::answer(store::Reads& reads, const std::string& peer) const {
  MESHFED_ASSIGN_OR_RETURN(const auto kept, store::read_value(reads, [&](store::Reader& tx) {
                             return store::WitnessQueries(tx).of_peer(peer);
                           }));
  nlohmann::json heads = nlohmann::json::array();
  std::set<std::pair<int64_t, std::string>> listed;
  for (const auto& r : kept) {
    const auto& h = r.witnessed.signed_head.head;
    if (!listed.emplace(h.seq, h.hash).second) continue;  // a head kept as recent and hourly is one head
    auto j = audit::to_json(r.witnessed);
    j["kind"] = r.kind;
    heads.push_back(std::move(j));
  }
  return nlohmann::json{{"api_version", "v1"}, {"witness", domain_}, {"heads", std::move(heads)}}.dump();
}

std::string AuditHeadSigner::signed_json(const audit::Head& head) {
  auto signer = signer_();
  MutexLock lock(mu_);
  if (head != head_ || signer != signed_with_ || json_.empty()) {
    const std::string signature = signer->sign(audit::signed_text(domain_, head));
    json_ = audit::to_json(audit::SignedHead{head, signature}).dump();
    head_ = head;
    signed_with_ = std::move(signer);
  }
  return json_;
}

std::string with_audit_head(std::string body, const std::string& head_json) {
  if (body.empty() || body.back() != '}') return body;
  body.pop_back();
  body += ",\"audit_head\":";
  body += head_json;
  body += '}';
  return body;
}

}  // namespace meshfed::federation
