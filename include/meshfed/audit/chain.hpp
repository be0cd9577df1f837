// The tamper-evident audit chain: each entry's hash covers the
// previous entry's hash and the entry's canonical JSON, so changing, deleting or reordering any
// row breaks every hash after it. Pure functions, shared by the broker and `meshfed audit verify`.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meshfed::audit {

inline const std::string kGenesisHash(64, '0');

struct Entry {
  int64_t seq = 0;
  std::string time;  // RFC 3339 UTC with milliseconds
  std::string actor;
  std::string action;
  std::string object;
  nlohmann::json details = nlohmann::json::object();
  std::string prev_hash;
  std::string hash;
};

// nlohmann's compact dump of {seq, time, actor, action, object, details}: keys sorted, no
// whitespace, UTF-8 unescaped.
std::string canonical_json(const Entry& e);
// lowercase hex SHA-256 of prev_hash + "\n" + canonical_json.
std::string compute_hash(const std::string& prev_hash, const Entry& e);

nlohmann::json to_json(const Entry& e);
// The entry to_json() wrote, or nothing when `j` is not one (a damaged archive line).
std::optional<Entry> from_json(const nlohmann::json& j);

struct ChainProblem {
  int64_t seq;  // the first bad entry
  std::string what;
};

// Checks a run of entries (ascending seq). `prev_hash` is the hash before the first one
// (kGenesisHash when starting at seq 1).
std::optional<ChainProblem> verify_chain(const std::vector<Entry>& entries, std::string prev_hash = kGenesisHash,
                                         int64_t expected_first_seq = 1);

}  // namespace meshfed::audit
