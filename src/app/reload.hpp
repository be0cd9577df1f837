// SIGHUP, on the store thread: the new config and every file it names are loaded and checked
// into a new snapshot, then published whole, and each part is told what changed for it; or
// nothing changes, and the audit log says why.
//
// The peers added through the admin API (peering) join the file's peers in every generation. A
// peering change is applied the same way, from the file as it was read at the last load: an
// approval never brings in an edit of the file that nobody reloaded.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "parts.hpp"

namespace meshfed::app {

class Reloader {
 public:
  explicit Reloader(BrokerParts& parts) : p_(parts) {}
  void reload();
  // At start, before the parts are composed: the active peerings join the file's peers.
  Status add_peerings_at_start();
  // After a peering change committed here or on another replica: applied when the active
  // peerings differ from those in force.
  void peerings_changed();
  // Whether the running config takes these peerings (Peerings::ConfigCheck).
  Status accepts(const std::vector<store::PeeringRecord>& peerings);

 private:
  // Active peering -> what its peers[] entry is made of (a new bundle merely proposed is not).
  using Applied = std::map<std::string, std::string>;

  // Tells each part what a newly published snapshot changed for it.
  void apply(const Snapshot& s);
  // The running file's config with these peerings as its API peers (their CA files written to
  // `ca_dir`), loaded and checked.
  Result<std::shared_ptr<const Snapshot>> with_peerings(const config::Config& file,
                                                        const std::vector<store::PeeringRecord>& peerings,
                                                        const std::filesystem::path& ca_dir);
  Result<std::vector<store::PeeringRecord>> read_peerings();
  static Applied active(const std::vector<store::PeeringRecord>& peerings);
  std::filesystem::path ca_dir() const { return p_.first_config().state_dir / "peerings"; }

  BrokerParts& p_;
  Applied applied_;
};

}  // namespace meshfed::app
