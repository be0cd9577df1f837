// An audit log's head as peers witness it: the newest entry's seq, hash and time, signed by the
// broker that keeps the log, and, once another domain has seen it, countersigned by that
// domain's broker. The texts signed are fixed here, so that every side signs and checks the
// same bytes (docs/security.md, "Witnessed audit"). Pure: the signing is pki's.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "meshfed/audit/chain.hpp"
#include "meshfed/core/result.hpp"

namespace meshfed::audit {

struct Head {
  int64_t seq = 0;  // 0: the log is empty
  std::string hash = kGenesisHash;
  std::string time;  // the newest entry's; empty while the log is
  bool operator==(const Head&) const = default;
};

struct SignedHead {
  Head head;
  std::string signature;  // base64, over signed_text(domain, head)
};

// What a domain's broker signs: "domain|seq|hash|time".
std::string signed_text(const std::string& domain, const Head& head);

// {seq, hash, time, signature}, as catalog answers carry it.
nlohmann::json to_json(const SignedHead& h);
// A head as a peer sent it, every field checked (seq >= 0, hash 64 lowercase hex, time and
// signature bounded); the error names the field. `what` names the head in it.
Result<SignedHead> signed_head_from_json(const nlohmann::json& j, const std::string& what);
// The same from the compact JSON text of the Meshfed-Audit-Head header (at most 1 KiB).
Result<SignedHead> signed_head_from_text(std::string_view text, const std::string& what);
inline constexpr const char* kAuditHeadHeader = "Meshfed-Audit-Head";

// A head another domain kept, as its /federation/v1/witness answers: when it saw it, and its
// countersignature over countersigned_text().
struct WitnessedHead {
  SignedHead signed_head;
  std::string witnessed_at;  // RFC 3339
  std::string countersignature;
};

// What the witness signs: "witness|domain|seq|hash|time|signature|witnessed_at", `domain` being
// the log's, so that a countersignature vouches for one head of one domain's log at one time.
std::string countersigned_text(const std::string& witness, const std::string& domain, const WitnessedHead& w);

nlohmann::json to_json(const WitnessedHead& w);
Result<WitnessedHead> witnessed_head_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace meshfed::audit
