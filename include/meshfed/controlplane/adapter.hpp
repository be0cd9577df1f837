// The seam between meshfed and a domain's control plane. The workflow reads the inventory
// through it and hands it the desired state; the adapter reports per-object results and its
// health. `static` (files) and, later, `kuma` (REST) implement it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/config/config.hpp"
#include "meshfed/core/result.hpp"

namespace meshfed::controlplane {

struct ServicePort {
  int port = 0;
  std::string protocol = "tcp";
  std::optional<int> target_port;  // where the ingress connects, when not `port` (Kuma's VIP port 80)
};

struct Service {
  std::string mesh;
  std::string name;
  std::string zone;     // empty where the control plane has no zones
  std::string address;  // where the ingress gateway forwards an export's traffic
  std::vector<ServicePort> ports;
  std::map<std::string, std::string> labels;
  bool from_dataplanes = false;  // Kuma: a kuma.io/service tag of Dataplanes, not a MeshService

  const ServicePort* find_port(int port) const;
};

struct Inventory {
  std::vector<Service> services;
  // The service named `name` in `mesh` (and `zone`, when given).
  const Service* find(const std::string& mesh, const std::string& name, const std::string& zone = "") const;
};

// What the control plane should contain. Imports are filled in by federation.
struct DesiredExport {
  std::string id;
  std::string mesh;
  std::string service;
  std::string zone;
  int port = 0;
  bool by_tag = false;  // the service is a kuma.io/service tag (no MeshService)
};
struct DesiredImport {
  std::string id;
  std::string peer;
  std::string alias;
  std::string protocol;
  std::string local_host;  // the egress listener the control plane points the import at
  int local_port = 0;
  int port = 0;  // the port the import's clients use

  bool operator==(const DesiredImport&) const = default;
};
struct DesiredState {
  std::vector<DesiredExport> exports;
  std::vector<DesiredImport> imports;
};

struct ApplyResult {
  enum class Kind { kExport, kImport };
  Kind kind = Kind::kImport;
  std::string id;
  bool applied = false;
  std::string reason;  // why not, when not applied
};

struct Health {
  bool ready = false;
  std::string detail;
  int64_t inventory_errors = 0;           // failed refreshes since start
  std::map<std::string, int64_t> events;  // counters since start, e.g. reconcile runs, errors by kind
};

// A leader's licence to write to the control plane. A write round asks the store first that
// the term is still current (`confirm`); each write asks the term's lease, locally, just before
// it is sent (`may_write`) and carries the term (header X-Meshfed-Term), so that a replica
// deposed in the middle of a round stops before the next term's first write.
struct WriteTerm {
  int64_t term = 0;
  std::function<Status()> confirm;
  std::function<bool()> may_write;
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  // Re-reads the inventory if its source changed (or `force`). A failure keeps the last good
  // inventory and is reported in health(). Blocking: call it off the I/O threads.
  virtual Status refresh_inventory(bool force) = 0;
  virtual std::shared_ptr<const Inventory> inventory() const = 0;
  // Imports: the results are what is known so far; an adapter that applies in the background
  // reports "not failed" for what it has not tried yet and calls the results listener when it
  // learns more, so that the caller asks again.
  virtual std::vector<ApplyResult> apply(const DesiredState& desired) = 0;
  // Approved exports, for control planes that authorise them (Kuma: MeshTrafficPermission).
  virtual void set_exports(std::vector<DesiredExport> exports) { (void)exports; }
  virtual void on_results_changed(std::function<void()> listener) { (void)listener; }
  virtual Health health() const = 0;

  // SIGHUP: the control plane's new settings and credential (its type changes only at restart).
  virtual void reconfigure(const config::ControlPlaneConfig& cfg, const std::string& token) = 0;
  // For adapters that work in the background: start() once whatever on_results_changed()
  // reaches exists, stop() before it goes. Nothing to do for the others.
  virtual void start() {}
  virtual void stop() {}
  // Replicas: the term under which this broker writes to the control plane (the leader), or
  // nothing (a follower, whose desired state is empty and must never be applied: it only reads
  // the inventory). On, with no term, unless set; set only after the desired state was handed
  // over.
  virtual void set_writes(std::optional<WriteTerm> term) { (void)term; }
  // True where set_exports() is worth computing (the control plane authorises exports).
  virtual bool authorizes_exports() const { return false; }
};

// The adapter `cfg.type` names; `token` is its credential (control_plane.token_file's content).
std::unique_ptr<Adapter> make_adapter(const config::ControlPlaneConfig& cfg, const std::string& token);

// Parses the static inventory format.
Result<Inventory> parse_inventory(std::string_view json_text);

}  // namespace meshfed::controlplane
