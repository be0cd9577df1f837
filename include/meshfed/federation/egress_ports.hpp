// The egress port allocator: which port of the egress range an import gets, within its peer's
// share, never one another program on this host holds; and, when the egress runs as its own
// process, which given ports it has not confirmed yet (those are not published to the control
// plane, so that no workload is sent to a port nobody listens on). Owned by the import manager,
// on the store thread; the store itself says which ports imports hold.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "meshfed/config/config.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::federation {

struct EgressPortSettings {
  std::optional<config::PortRange> range;  // none: no ports are given
  std::map<std::string, int64_t> shares;   // ports each peer's imports may hold at once
  // Whether a port can be bound here now; unset: only refused() keeps a port from being given.
  std::function<bool(int port)> bindable;
  bool egress_confirms = false;  // the egress is a process of its own, which confirms ports
};

class EgressPorts {
 public:
  // A port another program held is tried again after this long (programs come and go).
  static constexpr int64_t kRefusedPortSkippedMs = 30'000;
  // The ports imports hold and the peer of each, as the store says now.
  using UsedPorts = std::function<Result<std::vector<std::pair<int, std::string>>>()>;

  explicit EgressPorts(const Clock& clock) : clock_(clock) {}

  void configure(EgressPortSettings settings) { settings_ = std::move(settings); }
  bool in_range(int port) const {
    return settings_.range && port >= settings_.range->first && port <= settings_.range->last;
  }

  // A free port for an import of `peer`, or why there is none. `used` is asked only when the
  // ports in use are not known yet (the first take, or the first after forget_use()); an error
  // when they cannot be read.
  Result<std::optional<int>> take(const std::string& peer, std::string& why_not, const UsedPorts& used);
  // What the store holds changed other than through take(): a port was freed, a transaction
  // rolled back, another replica wrote. The next take() reads the store again.
  void forget_use() { used_.reset(); }
  // The egress could not bind `port`: another program holds it.
  void refused(int port) { refused_until_ms_[port] = to_unix_ms(clock_.now()) + kRefusedPortSkippedMs; }
  // Forgets refusals that have run out; whether there were any (a port may be free again).
  bool refusals_expired();

  // Confirmation by a separate egress process. After its first watch (seen()), a port given
  // (given()) is unconfirmed until the process says it listens on it (confirmed()).
  void seen() { egress_seen_ = true; }
  void given(const store::ImportRecord& r);
  // Whether any awaited port was confirmed by this report.
  bool confirmed(const std::map<std::string, int>& listening);
  size_t awaiting() const { return unconfirmed_.size(); }
  // `desired` without the imports whose port is still unconfirmed. What is awaited follows the
  // store: an import gone from `desired`, or moved to another port, is awaited no longer.
  const controlplane::DesiredState& publishable(const controlplane::DesiredState& desired);
  // The record as the API shows it: no local address while its port is unconfirmed.
  void annotate(store::ImportRecord& r) const;

 private:
  struct Use {
    std::set<int> ports;
    std::map<std::string, int64_t> by_peer;
  };
  bool held_elsewhere(int port);

  const Clock& clock_;
  EgressPortSettings settings_;
  std::optional<Use> used_;                  // the store's, cached between changes
  std::map<int, int64_t> refused_until_ms_;  // bounded by the range
  std::map<std::string, int> unconfirmed_;   // import id -> port given, in this broker's lifetime
  bool egress_seen_ = false;
  controlplane::DesiredState publishable_;  // publishable()'s filtered copy, when it needs one
};

}  // namespace meshfed::federation
