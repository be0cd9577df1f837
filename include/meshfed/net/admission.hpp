// Who may hold a connection to a listener, and who makes room when it is full. Every listener
// admits through one of these: the admin, peer and metrics APIs, the ingress gateway and the
// egress gateway's listeners. Anyone who reaches a listener may be hostile (docs/security.md):
//
// - a source address holds at most `max_connections_per_source` connections until one is
//   authenticated, then it counts against its peer (`max_connections_per_peer`), so that many
//   peers behind one address (a NAT, loopback) do not crowd each other out;
// - at `max_connections`, a connection that is not busy makes room for the new one: the least
//   advanced first (see Stage), the oldest among equals. Strangers reconnecting as fast as they
//   can then replace other strangers stuck in their handshakes, never a client that is being
//   served. With none to evict, the new connection is refused;
// - every refusal is counted (`refusals{listener, reason}`) and logged at most once per source
//   per interval, with how many it stands for.
//
// The deadlines that end a connection which never finishes its handshake or a request head are
// the listener's own (it knows its protocol); this decides only who may be open at once.
// Thread-safe: listeners admit on one thread and run connections on others.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "meshfed/core/clock.hpp"
#include "meshfed/metrics/registry.hpp"

namespace meshfed::net {

struct AdmissionLimits {
  int max_connections = 512;            // the listener's (a gateway's: across its listeners)
  int max_connections_per_source = 32;  // by remote address, until authenticated; 0: no cap
  int max_connections_per_peer = 16;    // once authenticated; 0: no cap
  std::chrono::seconds log_interval{60};
};

// Why a connection was refused: the `reason` label (source filters bring their own).
inline constexpr const char* kPerSourceCap = "per_source";
inline constexpr const char* kPerPeerCap = "per_peer";
inline constexpr const char* kAtCapacity = "capacity";

class Admission {
 public:
  // How far a connection got: one that has sent nothing makes room first, then one in its
  // handshake, then one that finished it; an authenticated peer last.
  enum class Stage { kSilent, kHandshake, kEstablished, kAuthenticated };

  // An admitted connection's place: counted until destroyed. Thread-safe.
  class Ticket {
   public:
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

    void advance(Stage stage);
    // A busy connection (serving a request, proxying an admitted session) is never evicted.
    void set_busy(bool busy);
    // Chosen to make room: the listener closes it as soon as it is not busy.
    bool evicted() const;
    // The listener keeps it after all (it became busy before the eviction reached it, and stays
    // so): it counts as open again, so the cap holds without it closing.
    void spared();
    // Moves the connection from its source's count to `peer`'s and marks it kAuthenticated.
    // False when `peer` already has max_connections_per_peer open: refused (counted, logged),
    // and the caller closes it.
    bool authenticate(const std::string& peer);

   private:
    friend class Admission;
    struct State;
    explicit Ticket(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
  };

  // `listener` names it in logs and in the `listener` label.
  Admission(std::string listener, AdmissionLimits limits, const Clock& clock = wall_clock());
  ~Admission();
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Counts refusals in `refusals` (labels {listener, reason}); until then they are only
  // logged. Call before the listener starts.
  void count_refusals_in(metrics::Family& refusals);

  // Which remote addresses may connect at all, asked before anything else, in the order added
  // (the peer API admits only its peers' source ranges, and paces sources whose certificates
  // keep failing). A refusal is counted under `reason` and logged with `why`. Call before the
  // listener starts. Default: everyone.
  void add_source_filter(std::string reason, std::string why, std::function<bool(const std::string& address)> admits);

  // A place for a new connection from `address`, or null when it is refused. `evict` closes
  // this connection if it is later chosen to make room; it is called on the admitting thread
  // with no lock held, so it must only post the close to the connection's own thread.
  std::unique_ptr<Ticket> admit(const std::string& address, std::function<void()> evict);

  int open() const;  // admitted connections not yet given back

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace meshfed::net
