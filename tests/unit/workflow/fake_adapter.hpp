// An in-memory control-plane adapter whose inventory the test sets directly.
#pragma once

#include <map>
#include <set>
#include <string>

#include "meshfed/controlplane/adapter.hpp"

namespace meshfed::testing {

class FakeAdapter final : public controlplane::Adapter {
 public:
  FakeAdapter() {
    controlplane::Inventory inv;
    inv.services.push_back({"default", "payments-api", "", "127.0.0.1", {{8443, "tcp", std::nullopt}}, {}, false});
    inv.services.push_back({"default",
                            "ledger",
                            "eu-1",
                            "127.0.0.1",
                            {{5432, "tcp", std::nullopt}, {9187, "http", std::nullopt}},
                            {},
                            false});
    set(std::move(inv));
  }
  void set(controlplane::Inventory inv) { inv_ = std::make_shared<const controlplane::Inventory>(std::move(inv)); }
  Status refresh_inventory(bool) override { return {}; }
  std::shared_ptr<const controlplane::Inventory> inventory() const override { return inv_; }
  // Applies everything, except the imports named in `refused` (id -> the control plane's reason).
  std::vector<controlplane::ApplyResult> apply(const controlplane::DesiredState& desired) override {
    std::vector<controlplane::ApplyResult> out;
    std::set<std::string> held;
    for (const auto& i : desired.imports) {
      held.insert(i.id);
      const auto it = refused.find(i.id);
      out.push_back(
          {controlplane::ApplyResult::Kind::kImport, i.id, it == refused.end(), it == refused.end() ? "" : it->second});
    }
    applied.push_back(std::move(held));
    last = desired;
    return out;
  }
  std::map<std::string, std::string> refused;
  std::vector<std::set<std::string>> applied;  // the imports of every desired state handed over, in order
  controlplane::DesiredState last;             // the last one handed over
  void reconfigure(const config::ControlPlaneConfig&, const std::string&) override {}
  controlplane::Health health() const override { return {true, "fake", 0, {}}; }

 private:
  std::shared_ptr<const controlplane::Inventory> inv_;
};

}  // namespace meshfed::testing
