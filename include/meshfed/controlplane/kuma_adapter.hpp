// The Kuma adapter: drives a Kuma / Kong Mesh global control plane through its REST API
// (Kuma's REST API; docs/kuma.md). Inventory: MeshServices of the configured meshes (Dataplane inbounds
// where a mesh has no MeshServices). Imports become MeshExternalServices in `import_mesh`;
// approved exports become MeshTrafficPermissions letting the ingress gateway reach the service.
//
// All REST calls happen on the adapter's own thread, on an interval and whenever something
// changes, with backoff while the control plane is away; the broker's threads only hand over
// what they want and read what is known. A failed poll keeps the last good inventory.
#pragma once

#include <map>
#include <memory>
#include <set>

#include "meshfed/config/config.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/mutex.hpp"
#include "meshfed/core/settings_loop.hpp"
#include "meshfed/http/client.hpp"

namespace meshfed::controlplane {

class KumaAdapter final : public Adapter {
 public:
  // `token`: the user token (empty: none, e.g. a loopback admin).
  KumaAdapter(config::KumaControlPlane cfg, std::string token);
  ~KumaAdapter() override;  // stop()

  // Starts the background rounds: call once whatever on_results_changed() reaches exists.
  void start() override;
  // Ends the rounds and joins their thread (a call in flight is broken off). Idempotent.
  void stop() override;

  Status refresh_inventory(bool force) override;
  std::shared_ptr<const Inventory> inventory() const override;
  std::vector<ApplyResult> apply(const DesiredState& desired) override;
  void set_exports(std::vector<DesiredExport> exports) override;
  void on_results_changed(std::function<void()> listener) override;
  Health health() const override;
  void set_writes(std::optional<WriteTerm> term) override;

  bool authorizes_exports() const override { return true; }
  // SIGHUP: new settings and token; the next round uses them.
  void reconfigure(const config::ControlPlaneConfig& cfg, const std::string& token) override {
    reconfigure(cfg.kuma, token);
  }
  void reconfigure(config::KumaControlPlane cfg, std::string token);

 private:
  struct Client;
  void run();
  void wake();
  // One poll and reconcile with a snapshot of the settings; false if the control plane failed.
  bool round(Client& c, const config::KumaControlPlane& cfg);
  Status poll_inventory(Client& c, const config::KumaControlPlane& cfg);
  Status reconcile_imports(Client& c, const config::KumaControlPlane& cfg, const std::vector<DesiredImport>& imports,
                           std::map<std::string, ApplyResult>& results);
  Status reconcile_exports(Client& c, const config::KumaControlPlane& cfg, const std::vector<DesiredExport>& exports);
  void count(const std::string& event);

  struct Settings {
    config::KumaControlPlane cfg;
    std::string token;
  };

  mutable Mutex mu_;  // what the round learns, for the broker's threads
  std::shared_ptr<const Inventory> inventory_ GUARDED_BY(mu_);
  std::vector<DesiredImport> imports_ GUARDED_BY(mu_);
  std::vector<DesiredExport> exports_ GUARDED_BY(mu_);
  // Read with imports_ and exports_, so a round never writes a state older than the switch.
  bool writes_ GUARDED_BY(mu_) = true;
  std::optional<WriteTerm> term_ GUARDED_BY(mu_);  // replicas: the leader's term
  // The adapter thread's own: the last round's writes were held back by the term.
  bool fenced_ = false;
  static constexpr auto kFencedRetry = std::chrono::milliseconds(500);
  std::map<std::string, ApplyResult> results_ GUARDED_BY(mu_);  // by import id, from the last reconcile
  std::function<void()> results_listener_ GUARDED_BY(mu_);
  std::string version_ GUARDED_BY(mu_);
  std::string last_error_ GUARDED_BY(mu_);
  std::vector<std::string> skipped_ GUARDED_BY(mu_);  // inventory items left out in the last poll, as logged
  std::map<std::string, int64_t> events_ GUARDED_BY(mu_);
  int64_t inventory_errors_ GUARDED_BY(mu_) = 0;
  http::InterruptibleRequests requests_;  // stop() breaks off the call in flight
  SettingsLoop<Settings> loop_;           // last: its thread stops before the members it uses go
};

}  // namespace meshfed::controlplane
