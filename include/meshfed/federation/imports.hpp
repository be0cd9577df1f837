// The import state machine: applies what peers' catalogs say, withdraws on silence, expiry,
// removal and quarantine, and hands the control-plane adapter the desired state. Egress ports
// come from EgressPorts, a peer's health and change budget from peer_health. Every import
// transition is audited. Runs on the store thread.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "meshfed/config/config.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/core/serial_executor.hpp"
#include "meshfed/federation/catalog_check.hpp"
#include "meshfed/federation/egress_ports.hpp"
#include "meshfed/federation/peer_health.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"
#include "meshfed/workflow/principal.hpp"

namespace meshfed::federation {

struct ImportPeer {
  std::string domain;
  std::string trust_domain;
  config::ImportPolicy policy = config::ImportPolicy::kManual;
  int64_t max_egress_ports = 1;  // egress ports this peer's imports may hold at once
  // Import steps (transitions, changes) its answers may cause: a bucket of change_burst,
  // refilled at max_changes_per_minute.
  int64_t max_changes_per_minute = 1000000;
  int64_t change_burst = 1000000;
};

struct ImportSettings {
  std::map<std::string, ImportPeer> peers;        // configured peers by domain
  std::optional<config::PortRange> egress_ports;  // none: observe only, imports are not applied
  std::string egress_host;
  // Whether an egress port can be bound here now (the egress runs in this process): a port
  // another program holds is never given to an import. Unset: only the egress's own reports of
  // ports it could not bind (egress_port_refused) keep a port from being given.
  std::function<bool(int port)> port_bindable;
  // The egress runs as its own process (gateways.egress.enabled false): once that process has
  // watched the routes, a port given to an import here is published to the control plane only
  // when it says it listens on it (egress_listening). Until then the import shows no local
  // address and says why.
  bool egress_confirms = false;
  int64_t stale_after_s = 60;
  int64_t withdraw_after_s = 600;
};

// Reasons an import is withdrawn. The first three are reversible: the import comes back when
// the peer lists the export again.
inline const std::string kPeerSilent = "peer silent";
inline const std::string kPeerRemoved = "peer removed";  // from the config file, or through the admin API
inline const std::string kPeerQuarantined = "peer quarantined";
inline const std::string kLeftCatalog = "export left the catalog";
inline const std::string kExpired = "expired";

struct PeerStatus {
  store::PeerRecord record;
  std::string trust_domain;
  PeerState state = PeerState::kStale;
  std::map<std::string, int64_t> imports;  // count by state
};

class ImportManager {
 public:
  // `control_plane`: where a catalog's imports are handed to the adapter while the
  // transaction's commit is made durable (the two disk writes overlap; the store thread waits
  // for both). Null: the adapter is called after the commit, on the store thread.
  ImportManager(store::Database& db, const Clock& clock, controlplane::Adapter& adapter, ImportSettings settings,
                SerialExecutor* control_plane = nullptr);

  // Withdraws the imports of peers no longer configured; a peer added back syncs from scratch.
  Status update_settings(ImportSettings settings);

  // The revision to ask `peer` for next.
  Result<int64_t> revision(const std::string& peer);
  // After an answer held back by the change budget: how long until the budget holds it (one
  // larger than the whole burst: until the burst is full again). Zero otherwise. The watcher
  // asks again only then, so a flapping peer's answers are not applied and undone in a loop.
  std::chrono::milliseconds budget_wait(const std::string& peer) const;
  // Applies one catalog answer that check_catalog() accepted, unless the peer is quarantined
  // or the steps it causes would take more than the peer's change budget holds (checked in the
  // same transaction, which then rolls back): the peer is flapping, audited once a minute, and
  // the answer waits for the budget to refill; one larger than the whole burst makes the next
  // ask a full catalog, which always fits.
  Status apply_catalog(const std::string& peer, const CatalogAnswer& answer);
  // A refused answer changes no import: it becomes the peer's last error, and the first
  // refusal for each distinct reason in a row is audited (`peer.catalog_refused`).
  Status refuse_catalog(const std::string& peer, const CatalogRefusal& refusal);
  // A long-poll that ended with 304: the peer is alive and nothing changed.
  Status record_unchanged(const std::string& peer);
  Status record_failure(const std::string& peer, const std::string& error);

  // An approver's answer to an import from a `manual` peer; `comment` goes into the audit log.
  enum class Decision { kAccept, kReject };
  Result<store::ImportRecord> decide(const workflow::Principal& who, const std::string& id,
                                     std::optional<int64_t> if_match, Decision decision,
                                     const std::string& comment = "");
  Result<store::ImportRecord> accept(const workflow::Principal& who, const std::string& id,
                                     std::optional<int64_t> if_match, const std::string& comment = "");
  Result<store::ImportRecord> reject(const workflow::Principal& who, const std::string& id,
                                     std::optional<int64_t> if_match, const std::string& comment = "");
  // An admin's hold on a whole peer: no catalog of it is applied while quarantined.
  enum class PeerAction { kQuarantine, kRelease };
  Status act_on_peer(const workflow::Principal& who, const std::string& peer, const std::string& reason,
                     PeerAction action);
  Status quarantine(const workflow::Principal& who, const std::string& peer, const std::string& reason);
  Status release(const workflow::Principal& who, const std::string& peer, const std::string& reason);
  // An error when the store cannot say: callers refuse the peer then (a security decision
  // that cannot be made fails closed).
  Result<bool> is_quarantined(const std::string& peer);

  // The egress could not listen on `port` for import `id` (another program holds it): the import
  // moves at once to another port that can be bound (its control-plane resource follows), or
  // is `failed` with the reason when none can. The port is not given out again for a while.
  Status egress_port_refused(const std::string& id, int port, const std::string& error);

  // A separate egress process listens on these ports for these imports now: those waiting for
  // it are published to the control plane.
  Status egress_listening(const std::map<std::string, int>& listening);
  // A separate egress process follows this broker's routes: from now on a port it has not
  // confirmed is not published. (A domain whose egress is off and runs nowhere publishes as it
  // always did; the first watch of an egress process switches the rule on.)
  void egress_process_seen() { ports_.seen(); }
  // Imports given a port that the separate egress has not confirmed yet (for /readyz).
  size_t awaiting_egress() const { return ports_.awaiting(); }

  // Staleness and withdrawal by silence, and expiry while the peer is away.
  Status tick();
  // Deletes imports withdrawn and unseen for `retention_days`, with their histories (at most
  // `limit` a call, so that the store thread is never held long); returns how many.
  Result<int64_t> prune_withdrawn(int64_t retention_days, int limit = 1000);
  // An import's own history, oldest first.
  Result<std::vector<store::ImportHistoryEntry>> history(const std::string& id);
  // Hands the adapter the active and stale imports; marks failures and recoveries. Runs after
  // every change to imports, and then tells the change listener (the egress routes follow).
  Status reconcile();
  void set_change_listener(std::function<void()> listener) { changed_ = std::move(listener); }
  // Replicas: only the leader applies imports to the control plane and ages them; on a
  // follower reconcile() and tick() do nothing. Unset: this broker is the domain's only one.
  void set_leading(std::function<bool()> leading) { leading_ = std::move(leading); }
  // Told of every export seen for the first time, with how long ago the peer approved it.
  void set_arrival_listener(std::function<void(const std::string& peer, int64_t since_approval_ms)> listener) {
    arrived_ = std::move(listener);
  }

  Result<store::ImportRecord> get(const std::string& id);
  Result<std::pair<std::vector<store::ImportRecord>, std::optional<std::string>>> list(const std::string& after,
                                                                                       int limit);
  Result<std::vector<PeerStatus>> peers();
  // Aliases of the peer's imports that are neither rejected nor withdrawn.
  Result<std::set<std::string>> live_aliases(const std::string& peer);
  const ImportSettings& settings() const { return settings_; }

 private:
  Status transition(const store::Writer& tx, store::ImportRecord& r, store::ImportState to, const std::string& reason,
                    const std::string& actor, bool audit_even_if_same = false);
  Status withdraw(const store::Writer& tx, store::ImportRecord& r, const std::string& reason, const std::string& actor);
  // Withdraws every import of `peer` in `states` (every state when none is named); whether
  // there was any.
  Result<bool> withdraw_all(const store::Writer& tx, const std::string& peer, const std::string& reason,
                            const std::string& actor, const std::vector<store::ImportState>& states = {});
  // One audit entry, stamped now, inside `tx`.
  Status audit(const store::Writer& tx, const std::string& actor, const std::string& action, const std::string& object,
               nlohmann::json details);
  Status upsert(const store::Writer& tx, const std::string& peer, const ImportedExport& e, int64_t now);
  // Gives an active import an egress port within the range and its peer's share, or fails it.
  Status ensure_port(const store::Writer& tx, store::ImportRecord& r);
  // Imports that failed for want of a port get one as soon as one frees.
  Status retry_portless(const store::Writer& tx);
  Status revive_stale(const store::Writer& tx, const std::string& peer);
  // Inside a transaction: whether the peer is quarantined as of that transaction.
  Result<bool> quarantined_now(const store::Reader& tx, const std::string& peer);
  ChangeBudgets::Limits budget_of(const std::string& peer) const;
  // After an answer was held back: one audit entry a minute, and a full catalog next when the
  // answer can never fit.
  Status held_back(const std::string& peer, int64_t steps, int64_t now_ms);
  // Withdraws the imports `answer` no longer lists (in a transaction of the caller's).
  Status withdraw_what_left(const store::Writer& tx, const std::string& peer, const CatalogAnswer& answer);
  // Of an answer the budget held back, its withdrawals: a revocation must reach the control
  // plane whatever else the peer changes. They still take from the budget, so that a peer
  // cannot churn faster by making each addition's undoing free.
  Status apply_withdrawals(const std::string& peer, const CatalogAnswer& answer);
  Result<store::ImportRecord> settle(const workflow::Principal& who, const std::string& id,
                                     std::optional<int64_t> if_match, const std::string& verb,
                                     const std::function<Status(const store::Writer&, store::ImportRecord&)>& apply);
  Status touch_peer(const store::Writer& tx, const std::string& peer, std::optional<int64_t> revision,
                    const std::string& error);
  // Every import is saved through here: inside apply_catalog it is noted for the kept desired
  // state, anywhere else the kept desired state is dropped.
  Status save(const store::Writer& tx, const store::ImportRecord& r);

  // What the control plane should hold (the active, stale and failed imports with a port), and
  // each import's state, read inside a read or a transaction.
  struct Desired {
    controlplane::DesiredState state;
    std::map<std::string, store::ImportState> state_of;
    static bool belongs(const store::ImportRecord& r);
    // Brings one import's entry up to date with its record as just saved.
    void update(const store::ImportRecord& r, const std::string& egress_host);
  };
  bool applies_to_control_plane() const;
  Result<Desired> desired_now(const store::Reader& tx);
  // Marks failures and recoveries the adapter reported, then tells the change listener.
  // `desired` (usually handed_) is read before the transaction that marks them, whose saves
  // drop handed_: nothing of it is used after that.
  Status take_results(const Desired& desired, const std::vector<controlplane::ApplyResult>& results);

  store::Database& db_;
  const Clock& clock_;
  controlplane::Adapter& adapter_;
  ImportSettings settings_;
  // Egress ports in use are cached across catalog answers on a store of our own, and dropped
  // (forget_use) when a port is freed, a transaction fails or imports change outside an answer
  // (on a shared store, read once per answer).
  EgressPorts ports_;
  ChangeBudgets budgets_;    // by configured peer
  int64_t transitions_ = 0;  // counted for the summary log line of a catalog answer
  std::function<void()> changed_;
  std::function<bool()> leading_;
  std::function<void(const std::string&, int64_t)> arrived_;
  // The desired state last handed to the control plane (the leader's, on a store of its own),
  // kept up to date by apply_catalog from the imports it saves, so that one approval does not
  // read every import again; dropped whenever imports change any other way.
  std::optional<Desired> handed_;
  // The steps of one catalog answer (or one sweep of staleness and expiry): its import
  // transitions and changes, recorded in the imports' histories under one audit entry at its
  // end (import.catalog_applied, import.swept).
  struct Batch {
    std::map<std::string, int64_t> counts;  // by what happened: a state reached, or "changed"
    std::vector<store::ImportHistoryEntry> steps;
  };
  std::optional<Batch> batch_;
  // Records a step of `r`'s history (its version already moved): into the batch inside
  // apply_catalog, otherwise with an audit entry of its own.
  Status record_step(const store::Writer& tx, const store::ImportRecord& r, std::optional<store::ImportState> from,
                     const std::string& actor, const std::string& reason);
  // Ends a batch: one audit entry (`details` plus the counts and a digest of the ids), then
  // every step with its seq. Nothing when nothing moved.
  Status flush_batch(const store::Writer& tx, const std::string& actor, const std::string& action,
                     const std::string& object, nlohmann::json details);
  bool in_apply_ = false;                                                 // apply_catalog's transaction runs
  std::map<std::string, store::ImportRecord>* saved_in_apply_ = nullptr;  // what it saved, when tracked
  SerialExecutor* const control_plane_;
};

nlohmann::json import_json(const store::ImportRecord& r, const std::string& local_host);

}  // namespace meshfed::federation
