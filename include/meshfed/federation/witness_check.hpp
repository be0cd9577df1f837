// Our audit log against what our peers witnessed of it (`meshfed audit verify --witnesses`,
// GET /api/v1/audit/verify?witnesses=true, and the broker at start). Each peer is asked
// GET /federation/v1/witness over mutual TLS; every head it answers must carry its
// countersignature, made by the key of the certificate its broker proved in the handshake
// (otherwise the whole answer is refused: a forged answer proves nothing). Each head is then
// looked up in our chain (the live store, else the archive segments): the same hash at the same
// seq matches; another hash means our history was rewritten; a seq past our head means it was
// rolled back (an older backup restored, entries deleted). A peer that cannot be asked is
// reported as unreachable, never as a witness that agreed.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshfed/audit/head.hpp"
#include "meshfed/config/config.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/federation/peer_client.hpp"
#include "meshfed/store/database.hpp"

namespace meshfed::federation {

enum class HeadVerdict {
  kMatches,     // our chain holds the same hash at that seq
  kRewritten,   // our chain holds another hash there
  kRolledBack,  // our chain ends before that seq
  kNotHeld,     // archived, and the segment is not at hand: not checked
};
std::string_view to_string(HeadVerdict v);

struct CheckedHead {
  audit::WitnessedHead witnessed;
  std::string kind;  // as the witness keeps it: recent, hourly, evidence
  HeadVerdict verdict = HeadVerdict::kMatches;
  // Whether the head carries our own broker key's signature. A contradicting head that does not
  // may be the witness's invention, or signed before a key rotation: it is reported all the same.
  bool signed_by_us = true;
  std::string problem;  // for a rewritten or rolled-back head: the peer, the seq and what it saw
};

struct WitnessReport {
  std::string peer;
  bool answered = false;
  std::string error;  // why the peer could not be asked, or why its answer was refused
  std::vector<CheckedHead> heads;
  bool contradicts() const;  // a head says our history was rewritten or rolled back
};

// The verdict over every peer: kOk only when every peer answered and nothing contradicts.
enum class WitnessOutcome { kOk, kIncomplete, kFailed };
WitnessOutcome outcome_of(const std::vector<WitnessReport>& reports);
std::string_view to_string(WitnessOutcome o);
nlohmann::json to_json(const std::vector<WitnessReport>& reports);

// Our chain, as the check reads it.
class LocalChain {
 public:
  // `archives`: the folder of archive segments, consulted for heads older than the live chain.
  LocalChain(store::Reads& reads, std::optional<std::filesystem::path> archives)
      : reads_(reads), archives_(std::move(archives)) {}
  // What our chain says of `witnessed`; `ours` gets our hash at its seq, if we hold one.
  Result<HeadVerdict> judge(const audit::Head& witnessed, std::string& ours);

 private:
  store::Reads& reads_;
  std::optional<std::filesystem::path> archives_;
};

struct WitnessCheckOptions {
  std::string domain;               // ours: the log the heads are of
  std::string own_certificate_der;  // our broker certificate, that our signatures verify against
  std::chrono::seconds timeout{10};
};

// Asks each peer (in parallel) and judges what it answers against `chain`.
std::vector<WitnessReport> check_witnesses(const std::vector<PeerEndpoint>& peers, const WitnessCheckOptions& options,
                                           LocalChain& chain);

// The check as a tool runs it beside the broker (`meshfed audit verify --witnesses`,
// `meshfed restore`): the peers `config`'s file names, asked with its broker certificate; our
// chain read through `reads`, with the archive segments of retention.audit_archive_dir.
Result<std::vector<WitnessReport>> check_witnesses_of(const config::Config& config, store::Reads& reads);

// What `peer` (whose broker proved `witness_certificate_der`) answered on /federation/v1/witness,
// every countersignature checked; an error naming the first that fails.
Result<std::vector<std::pair<audit::WitnessedHead, std::string>>> read_witness_answer(
    const std::string& peer, const std::string& our_domain, std::string_view body,
    const std::string& witness_certificate_der);

}  // namespace meshfed::federation
