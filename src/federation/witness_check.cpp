#include "meshfed/federation/witness_check.hpp"

#include <future>

#include "meshfed/core/strict_json.hpp"
#include "meshfed/federation/witness_book.hpp"
#include "meshfed/pki/signing.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/workflow/audit_archive.hpp"

namespace meshfed::federation {

namespace {

// A witness keeps at most kRecentHeads + 24 per day for 365 days + kMostEvidence heads, each
// well under 512 bytes: an answer with more is not an honest witness's, and is refused before
// any signature is checked.
constexpr size_t kMostWitnessedHeads = kRecentHeads + 24 * 365 + kMostEvidence;
constexpr size_t kWitnessAnswerLimit = kMostWitnessedHeads * 512;

std::string short_hash(const std::string& h) { return h.substr(0, 16); }

}  // namespace

std::string_view to_string(HeadVerdict v) {
  switch (v) {
    case HeadVerdict::kMatches:
      return "matches";
    case HeadVerdict::kRewritten:
      return "rewritten";
    case HeadVerdict::kRolledBack:
      return "rolled back";
    case HeadVerdict::kNotHeld:
      return "archived, not checked";
  }
  return "?";
}

std::string_view to_string(WitnessOutcome o) {
  switch (o) {
    case WitnessOutcome::kOk:
      return "ok";
    case WitnessOutcome::kIncomplete:
      return "incomplete";
    case WitnessOutcome::kFailed:
      return "failed";
  }
  return "?";
}

bool WitnessReport::contradicts() const {
  for (const auto& h : heads) {
    if (h.verdict == HeadVerdict::kRewritten || h.verdict == HeadVerdict::kRolledBack) return true;
  }
  return false;
}

WitnessOutcome outcome_of(const std::vector<WitnessReport>& reports) {
  auto outcome = WitnessOutcome::kOk;
  for (const auto& r : reports) {
    if (r.contradicts()) return WitnessOutcome::kFailed;
    if (!r.answered) outcome = WitnessOutcome::kIncomplete;
  }
  return outcome;
}

nlohmann::json to_json(const std::vector<WitnessReport>& reports) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : reports) {
    nlohmann::json heads = nlohmann::json::array();
    for (const auto& h : r.heads) {
      auto j = audit::to_json(h.witnessed);
      j.erase("countersignature");
      j.erase("signature");
      j["kind"] = h.kind;
      j["verdict"] = to_string(h.verdict);
      j["signed_by_us"] = h.signed_by_us;
      if (!h.problem.empty()) j["problem"] = h.problem;
      heads.push_back(std::move(j));
    }
    nlohmann::json p{{"peer", r.peer},
                     {"state", !r.answered       ? "unreachable"
                               : r.contradicts() ? "contradicts"
                                                 : "agrees"},
                     {"heads", std::move(heads)}};
    if (!r.error.empty()) p["error"] = r.error;
    out.push_back(std::move(p));
  }
  return out;
}

Result<HeadVerdict> LocalChain::judge(const audit::Head& witnessed, std::string& ours) {
  std::optional<audit::Entry> entry;
  audit::Head head;
  MESHFED_RETURN_IF_ERROR(reads_.read([&](store::Reader& tx) -> Status {
    store::AuditQueries q(tx);
    MESHFED_ASSIGN_OR_RETURN(head, q.head());
    MESHFED_ASSIGN_OR_RETURN(entry, q.get(witnessed.seq));
    return {};
  }));
  if (witnessed.seq == 0) {
    ours = audit::kGenesisHash;
  } else if (entry) {
    ours = entry->hash;
  } else if (witnessed.seq > head.seq) {
    return HeadVerdict::kRolledBack;
  } else if (archives_) {
    MESHFED_ASSIGN_OR_RETURN(const auto archived, workflow::archived_entry(*archives_, witnessed.seq));
    if (!archived) return HeadVerdict::kNotHeld;
    ours = archived->hash;
  } else {
    return HeadVerdict::kNotHeld;
  }
  return ours == witnessed.hash ? HeadVerdict::kMatches : HeadVerdict::kRewritten;
}

Result<std::vector<std::pair<audit::WitnessedHead, std::string>>> read_witness_answer(
    const std::string& peer, const std::string& our_domain, std::string_view body,
    const std::string& witness_certificate_der) {
  MESHFED_ASSIGN_OR_RETURN(const auto j,
                           parse_strict_json(body, {kWitnessAnswerLimit, 4}, "witness answer of peer " + peer));
  auto refused = [&](const std::string& why) {
    return make_error(ErrorCode::kUntrusted, "witness answer of peer " + peer + " refused: " + why);
  };
  if (!j.is_object() || j.value("api_version", nlohmann::json()) != "v1") return refused("api_version is not \"v1\"");
  if (j.value("witness", nlohmann::json()) != peer) return refused("it does not name " + peer + " as the witness");
  const auto heads = j.find("heads");
  if (heads == j.end() || !heads->is_array()) return refused("heads must be an array");
  if (heads->size() > kMostWitnessedHeads) {
    return refused("it lists " + std::to_string(heads->size()) + " heads, more than the " +
                   std::to_string(kMostWitnessedHeads) + " a witness keeps");
  }
  std::vector<std::pair<audit::WitnessedHead, std::string>> out;
  for (const auto& h : *heads) {
    auto w = audit::witnessed_head_from_json(h, "witnessed head");
    if (!w) return refused(w.error().message);
    if (auto st = pki::verify_signature(witness_certificate_der, audit::countersigned_text(peer, our_domain, *w),
                                        w->countersignature);
        !st) {
      return refused("the countersignature of head seq " + std::to_string(w->signed_head.head.seq) +
                     " was not made by the witness: " + st.error().message);
    }
    std::string kind = h.contains("kind") && h["kind"].is_string() ? h["kind"].get<std::string>() : "";
    if (kind.size() > 16) kind.resize(16);
    out.emplace_back(std::move(w).value(), std::move(kind));
  }
  return out;
}

std::vector<WitnessReport> check_witnesses(const std::vector<PeerEndpoint>& peers, const WitnessCheckOptions& options,
                                           LocalChain& chain) {
  // The peers are asked in parallel (each within `timeout`); our chain is read on this thread.
  std::vector<std::future<Result<std::vector<std::pair<audit::WitnessedHead, std::string>>>>> asked;
  for (const auto& peer : peers) {
    asked.push_back(std::async(
        std::launch::async, [&peer, &options]() -> Result<std::vector<std::pair<audit::WitnessedHead, std::string>>> {
          MESHFED_ASSIGN_OR_RETURN(auto client, connect_to_peer(peer, options.timeout, kWitnessAnswerLimit));
          MESHFED_ASSIGN_OR_RETURN(const auto res, client->request("GET", "/federation/v1/witness"));
          if (res.status != 200) {
            return make_error(ErrorCode::kUnavailable, "peer " + peer.peer + " answered HTTP " +
                                                           std::to_string(res.status) + ": " + res.body.substr(0, 200));
          }
          return read_witness_answer(peer.peer, options.domain, res.body, res.server_certificate);
        }));
  }
  std::vector<WitnessReport> reports;
  for (size_t i = 0; i < peers.size(); ++i) {
    WitnessReport report;
    report.peer = peers[i].peer;
    auto answer = asked[i].get();
    if (!answer) {
      report.error = answer.error().message;
      reports.push_back(std::move(report));
      continue;
    }
    report.answered = true;
    for (auto& [witnessed, kind] : *answer) {
      CheckedHead checked;
      checked.witnessed = std::move(witnessed);
      checked.kind = std::move(kind);
      const auto& head = checked.witnessed.signed_head;
      checked.signed_by_us = options.own_certificate_der.empty() ||
                             pki::verify_signature(options.own_certificate_der,
                                                   audit::signed_text(options.domain, head.head), head.signature)
                                 .ok();
      std::string ours;
      auto verdict = chain.judge(head.head, ours);
      if (!verdict) {
        report.answered = false;
        report.error = "cannot read our audit log: " + verdict.error().message;
        report.heads.clear();
        break;
      }
      checked.verdict = *verdict;
      if (checked.verdict == HeadVerdict::kRewritten || checked.verdict == HeadVerdict::kRolledBack) {
        checked.problem =
            "peer " + report.peer + " witnessed seq " + std::to_string(head.head.seq) + " with hash " +
            short_hash(head.head.hash) + " at " + checked.witnessed.witnessed_at + "; " +
            (checked.verdict == HeadVerdict::kRolledBack ? "this log ends before it (rolled back)"
                                                         : "this log has " + short_hash(ours) + " there (rewritten)") +
            (checked.signed_by_us ? "" : "; the head is not signed by this broker's current key");
      }
      report.heads.push_back(std::move(checked));
    }
    reports.push_back(std::move(report));
  }
  return reports;
}

Result<std::vector<WitnessReport>> check_witnesses_of(const config::Config& config, store::Reads& reads) {
  std::vector<pki::TrustedPeer> trusted;
  for (const auto& p : config.peers) trusted.push_back({p.domain, p.trust_domain, p.ca_file, {}});
  MESHFED_ASSIGN_OR_RETURN(std::shared_ptr<const pki::PeerTrust> trust,
                           pki::PeerTrust::load(trusted, pki::Role::kBroker));
  MESHFED_ASSIGN_OR_RETURN(const auto signer, pki::Signer::load(config.tls.cert_file, config.tls.key_file));
  std::vector<PeerEndpoint> peers;
  for (const auto& p : config.peers) peers.push_back({p.domain, p.url, trust, config.tls});
  LocalChain chain(reads, config.retention.archive_dir_in(config.state_dir));
  return check_witnesses(peers, {config.domain, signer.certificate_der()}, chain);
}

}  // namespace meshfed::federation
