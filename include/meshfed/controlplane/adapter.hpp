// The seam between meshfed and a domain's control plane. The workflow reads the inventory
// through it and hands it the desired state; the adapter reports per-object results and its
// health. `static` (files) and, later, `kuma` (REST) implement it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/core/result.hpp"

namespace meshfed::controlplane {

struct ServicePort {
  int port = 0;
  std::string protocol = "tcp";
};

struct Service {
  std::string mesh;
  std::string name;
  std::string zone;     // empty where the control plane has no zones
  std::string address;  // where the ingress gateway forwards an export's traffic
  std::vector<ServicePort> ports;
  std::map<std::string, std::string> labels;

  const ServicePort* find_port(int port) const;
};

struct Inventory {
  std::vector<Service> services;
  // The service named `name` in `mesh` (and `zone`, when given).
  const Service* find(const std::string& mesh, const std::string& name,
                      const std::string& zone = "") const;
};

// What the control plane should contain. Imports are filled in by federation.
struct DesiredExport {
  std::string id;
  std::string mesh;
  std::string service;
  std::string zone;
  int port = 0;
};
struct DesiredImport {
  std::string id;
  std::string peer;
  std::string alias;
  std::string protocol;
  std::string local_host;  // the egress listener the control plane points the import at
  int local_port = 0;
  int port = 0;  // the port the import's clients use
};
struct DesiredState {
  std::vector<DesiredExport> exports;
  std::vector<DesiredImport> imports;
};

struct ApplyResult {
  std::string kind;  // "export" or "import"
  std::string id;
  bool applied = false;
  std::string reason;  // why not, when not applied
};

struct Health {
  bool ready = false;
  std::string detail;
  int64_t inventory_errors = 0;  // failed refreshes since start
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  // Re-reads the inventory if its source changed (or `force`). A failure keeps the last good
  // inventory and is reported in health(). Blocking: call it off the I/O threads.
  virtual Status refresh_inventory(bool force) = 0;
  virtual std::shared_ptr<const Inventory> inventory() const = 0;
  virtual std::vector<ApplyResult> apply(const DesiredState& desired) = 0;
  virtual Health health() const = 0;
};

// Parses the static inventory format (DESIGN.md, "inventory file").
Result<Inventory> parse_inventory(std::string_view json_text);

}  // namespace meshfed::controlplane
