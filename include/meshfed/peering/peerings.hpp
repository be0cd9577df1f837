// Peers added through the admin API: one admin proposes a domain by its bundle and the
// fingerprint they were read, another approves it; either may remove it. Every step, and every
// refusal, is in the audit log. The rules are checked inside the transaction that would break
// them. Runs on the store thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshfed/core/clock.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"
#include "meshfed/workflow/principal.hpp"

namespace meshfed::peering {

struct Proposal {
  nlohmann::json bundle;
  std::string fingerprint;
  std::string import_policy = "manual";  // manual | auto, as peers[].import_policy
  int64_t max_exports = 1000;
  std::optional<int64_t> max_egress_ports;
  std::string reason;
};

// The peers[] entries of the active peerings, for config::load_config: each one's CA
// certificates are first written to `ca_dir`/<domain>.pem (the folder 0700, each file replaced
// durably, 0600), which its entry's ca_file names; the files of peers no longer active are
// removed. Proposed peerings have none.
Result<std::vector<nlohmann::json>> peer_entries(const std::vector<store::PeeringRecord>& peerings,
                                                 const std::filesystem::path& ca_dir);

class Peerings {
 public:
  // At most this many peers added through the API (the config file's are not counted).
  static constexpr size_t kMaxPeerings = 256;

  // Whether the running config accepts these peerings as the peers added through the API (the
  // domain's CIDRs and egress ports must still add up): asked inside the transaction that
  // would make a peering active.
  using ConfigCheck = std::function<Status(const std::vector<store::PeeringRecord>&)>;

  // `configured_peers`: the domains the config file names now (asked at each proposal).
  Peerings(store::Database& db, const Clock& clock, std::string own_domain,
           std::function<std::set<std::string>()> configured_peers, ConfigCheck check = nullptr);
  // Told after a change committed: the peers in force must follow.
  void set_change_listener(std::function<void()> listener) { changed_ = std::move(listener); }

  // An admin proposes a peer: refused unless the fingerprint is the bundle's, the bundle is well
  // formed and the domain is new (not this one, not configured, not proposed or added before).
  Result<store::PeeringRecord> propose(const workflow::Principal& who, const Proposal& p);
  // An admin proposes a new bundle for an active peer (its CA rollover: the new bundle may carry
  // the old and the next CA, then the next alone). Same domain, same trust domain; checked as a
  // proposal is. The bundle in force stays until another admin approves.
  Result<store::PeeringRecord> propose_bundle(const workflow::Principal& who, const std::string& domain,
                                              const nlohmann::json& bundle, const std::string& fingerprint,
                                              const std::string& reason);
  // Another admin approves a proposed peer (it becomes active), or the new bundle proposed for
  // an active one (it replaces the bundle in force).
  Result<store::PeeringRecord> approve(const workflow::Principal& who, const std::string& domain,
                                       const std::string& comment);
  // An admin removes a peer added through the API, proposed or active.
  Status remove(const workflow::Principal& who, const std::string& domain, const std::string& reason);
  Result<std::vector<store::PeeringRecord>> list();

 private:
  // The audit entry of a refusal, written after the refused transaction rolled back.
  void audit_refusal(const workflow::Principal& who, const std::string& action, const std::string& object,
                     const Error& why);

  store::Database& db_;
  const Clock& clock_;
  const std::string own_domain_;
  const std::function<std::set<std::string>()> configured_peers_;
  const ConfigCheck check_;
  std::function<void()> changed_;
};

}  // namespace meshfed::peering
