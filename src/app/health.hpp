// What the broker says about itself: GET /readyz, check by check, and the line `systemctl
// status` shows (on the store thread); the firewall flows and the peering bundle (off it).
#pragma once

#include <string>

#include "meshfed/api/admin_api.hpp"
#include "parts.hpp"

namespace meshfed::app {

class BrokerHealth final : public api::HealthProbe {
 public:
  explicit BrokerHealth(BrokerParts& parts) : p_(parts) {}

  // Not ready while the store cannot write or read the audit head, the inventory is broken,
  // an import waits for its egress listener, or the broker is stopping.
  api::Readiness readiness() override;
  // "2/3 peers connected, 5 exports approved, 4 imports active" (STATUS=).
  std::string status_line();

 private:
  BrokerParts& p_;
};

// GET /api/v1/firewall (the off-store thread): the store is read on its thread, the names are
// resolved here, so a slow resolver holds up no SQLite work.
class FirewallFlows final : public api::FirewallView {
 public:
  explicit FirewallFlows(BrokerParts& parts) : p_(parts) {}
  Result<firewall::FlowSet> firewall_flows(firewall::Mode mode) override;

 private:
  BrokerParts& p_;
};

// GET /api/v1/peering/bundle (the off-store thread): made from the config in force, so a reload
// that changes the CA or the advertised addresses changes the bundle.
class PeeringBundle final : public api::BundleSource {
 public:
  explicit PeeringBundle(BrokerParts& parts) : p_(parts) {}
  Result<peering::Bundle> bundle() override { return peering::bundle_of(p_.snapshot.get()->config); }

 private:
  BrokerParts& p_;
};

}  // namespace meshfed::app
