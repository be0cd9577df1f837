// The broker around the admin API, as the unit tests and the fuzzer play it: tokens for named
// callers, always ready, a routing table the test sets, no firewall, the peering bundle the test
// sets, and a /federate that checks its selectors as the metrics importer does and records what
// it was asked.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "meshfed/api/admin_api.hpp"
#include "meshfed/api/auth.hpp"
#include "meshfed/metrics/selector.hpp"
#include "meshfed/routing/route_builder.hpp"

namespace meshfed::testing {

class FakeBroker final : public api::Credentials,
                         public api::HealthProbe,
                         public api::ReplicaDirectory,
                         public api::RouteView,
                         public api::FirewallView,
                         public api::BundleSource,
                         public metrics::FederateSource {
 public:
  // One token per {name, role}; tokens[name] is what that caller presents.
  explicit FakeBroker(const std::vector<std::pair<std::string, std::string>>& callers) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& [name, role] : callers) {
      auto t = api::create_token(name, {role});
      tokens_by_name[name] = t->token;
      entries.push_back(nlohmann::json::parse(t->file_entry));
    }
    store_ = std::make_shared<const api::TokenStore>(api::TokenStore::parse(entries.dump()).value());
  }

  std::shared_ptr<const api::TokenStore> tokens() const override { return store_; }
  api::Readiness readiness() override { return {true, {{"store", "ok"}}}; }
  Result<std::vector<store::ReplicaRecord>> replicas() override { return replica_rows; }
  std::shared_ptr<const gateway::RoutingTable> routes() override { return table.current(); }
  Result<firewall::FlowSet> firewall_flows(firewall::Mode) override {
    return make_error(ErrorCode::kUnavailable, "firewall flows are not available");
  }
  Result<peering::Bundle> bundle() override {
    if (!peering_bundle) {
      return make_error(ErrorCode::kFailedPrecondition, "set peer_api.advertise",
                        {{"peer_api.advertise", "required for a bundle"}});
    }
    return *peering_bundle;
  }
  Result<std::string> federate(const std::vector<std::string>& match) const override {
    federated_match = match;
    auto selectors = metrics::parse_match_params(match);
    if (!selectors) return selectors.error();
    return std::string("x{service=\"a\"} 1\n");
  }

  std::map<std::string, std::string> tokens_by_name;
  routing::RouteTableHolder table{1000};
  mutable std::vector<std::string> federated_match;
  std::optional<peering::Bundle> peering_bundle;  // none: this broker cannot make its bundle
  std::vector<store::ReplicaRecord> replica_rows = {{"pci-1", "127.0.0.1:9440", true, 1800000000000}};

 private:
  std::shared_ptr<const api::TokenStore> store_;
};

}  // namespace meshfed::testing
