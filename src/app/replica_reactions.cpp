#include "replica_reactions.hpp"

#include <spdlog/spdlog.h>

#include "meshfed/store/replica_repository.hpp"

namespace meshfed::app {
namespace {

constexpr auto kReplicaSeenWithin = std::chrono::seconds(60);

}  // namespace

void ReplicaReactions::elected(int64_t term) {
  if (!p_.leadership->holds(term)) return;  // stepped down again before this ran
  p_.leader_gauge.set({}, 1);
  reactions_.reconcile_imports();
  reactions_.publish_exports();
  p_.adapter->set_writes(controlplane::WriteTerm{term, [this, term] { return p_.leadership->confirm_term(term); },
                                                 [this, term] { return p_.leadership->may_write(term); }});
  heartbeat();  // the replica list names the new leader at once
  (void)p_.workflow->record_event(workflow::kSystemActor, "replica.elected", "broker/" + p_.domain(),
                                  {{"replica", p_.first_config().replica_id}, {"term", term}});
  p_.restart_watchers();
}

void ReplicaReactions::deposed() {
  p_.leader_gauge.set({}, 0);
  p_.restart_watchers();  // stops them: this replica no longer leads
}

void ReplicaReactions::others_committed() {
  if (catch_up_pending_.exchange(true)) return;
  p_.store.post([this] { catch_up(); });
}

void ReplicaReactions::catch_up() {
  catch_up_pending_ = false;
  reloader_.peerings_changed();  // a peer approved or removed there is in force here too
  p_.routes->changed();
  p_.metrics_export->exports_changed();
  reactions_.publish_exports();
  reactions_.reconcile_imports();
  const auto& peers = p_.snapshot.get()->peer_domains;
  p_.notify_peers({peers.begin(), peers.end()});
}

// A broker on SQLite is its domain's only one: it lists itself without writing (an fsync
// every few seconds, forever, for a list of one).
store::ReplicaRecord ReplicaReactions::self() const {
  return {p_.first_config().replica_id, p_.admin_address, p_.leading(), to_unix_ms(p_.clock.now())};
}

void ReplicaReactions::heartbeat() {
  if (p_.admin_address.empty() || !p_.leadership) return;  // not listening yet, or on SQLite
  const store::ReplicaRecord me = self();
  if (auto st = p_.db->autocommit([&](store::Writer& tx) { return store::ReplicaRepository(tx).heartbeat(me); }); !st) {
    p_.broker_metrics->store_error("heartbeat");
  }
}

Result<std::vector<store::ReplicaRecord>> ReplicaReactions::replicas() {
  if (!p_.leadership) return std::vector<store::ReplicaRecord>{self()};
  std::vector<store::ReplicaRecord> out;
  const int64_t since = to_unix_ms(p_.clock.now() - kReplicaSeenWithin);
  MESHFED_RETURN_IF_ERROR(p_.db->read([&](store::Reader& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(out, store::ReplicaQueries(tx).seen_since(since));
    return {};
  }));
  return out;
}

}  // namespace meshfed::app
