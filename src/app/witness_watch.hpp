// The broker's watch over its own audit log through its peers' eyes (federation/witness_check.hpp):
// asked once at start, before the peer API shows any head of ours (so that what a peer
// witnessed before a restore or a rewrite is still what it answers), then every hour, every
// minute while a peer could not be asked, and whenever the admin API asks
// (GET /api/v1/audit/verify?witnesses=true). A contradiction is loud: an error in the log, an
// `audit.witness_check_failed` entry (once per distinct finding), the gauge
// meshfed_audit_witness_contradictions{peer}, and the console's banner (GET /api/v1/audit/witnesses).
// Its own thread: the peers are asked with a timeout, never on the store thread or event loop.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshfed/api/admin_api.hpp"
#include "meshfed/core/mutex.hpp"
#include "meshfed/core/settings_loop.hpp"
#include "meshfed/federation/witness_check.hpp"

namespace meshfed::app {

struct BrokerParts;

class WitnessWatch final : public api::WitnessDesk {
 public:
  static constexpr auto kEvery = std::chrono::hours(1);
  static constexpr auto kRetryUnanswered = std::chrono::minutes(1);

  explicit WitnessWatch(BrokerParts& p);
  ~WitnessWatch() override { stop(); }

  // Asks every peer now and waits for the answers (the check at start).
  void check_now();
  void start();
  void stop();

  std::optional<nlohmann::json> checked_within(std::chrono::seconds fresh) override;
  nlohmann::json last_check() override;
  nlohmann::json witnessed_of(const std::string& peer) override;

 private:
  struct Check {
    std::chrono::steady_clock::time_point at;
    std::string at_text;
    federation::WitnessOutcome outcome = federation::WitnessOutcome::kOk;
    nlohmann::json peers;
  };
  void run();
  void report(const std::vector<federation::WitnessReport>& reports);

  BrokerParts& p_;
  metrics::Family& contradictions_;
  Mutex mu_;
  std::optional<Check> last_ GUARDED_BY(mu_);
  bool asked_ GUARDED_BY(mu_) = false;  // the admin API wants a fresh check
  std::set<std::string> audited_;       // findings already in the audit log (the check's thread)
  BackgroundLoop loop_;                 // last: its thread stops before the rest goes
};

}  // namespace meshfed::app
