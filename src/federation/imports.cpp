#include "meshfed/federation/imports.hpp"

#include <future>

#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "meshfed/core/paging.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/import_repository.hpp"
#include "meshfed/store/peer_repository.hpp"

namespace meshfed::federation {
namespace {

constexpr size_t kMaxTrackedChanges = 64;  // imports one answer may change and still be tracked

using nlohmann::json;
using store::ImportRecord;
using store::ImportState;

// kPeerRemoved as stores written before peering hold it.
const std::string kPeerRemovedFromConfig = "peer removed from config";

bool reversible(const std::string& reason) {
  return reason == kPeerSilent || reason == kPeerRemoved || reason == kPeerRemovedFromConfig ||
         reason == kPeerQuarantined;
}

// What the egress port allocator asks when it does not know the ports in use yet.
EgressPorts::UsedPorts used_ports(const store::Reader& tx) {
  return [&tx] { return store::ImportQueries(tx).used_ports(); };
}

bool is_final(ImportState s) { return s == ImportState::kWithdrawn || s == ImportState::kRejected; }
// Every state but the final ones: what a peer's leaving or silence withdraws.
const std::vector<ImportState> kNotFinal = {ImportState::kPendingAcceptance, ImportState::kActive, ImportState::kStale,
                                            ImportState::kFailed};
// The states whose imports (those with an egress port) the control plane holds.
const std::vector<ImportState> kInControlPlane = {ImportState::kActive, ImportState::kStale, ImportState::kFailed};

Error bad(const std::string& what) { return make_error(ErrorCode::kInvalidArgument, what); }

EgressPortSettings port_settings(const ImportSettings& s) {
  EgressPortSettings out{s.egress_ports, {}, s.port_bindable, s.egress_confirms};
  for (const auto& [domain, peer] : s.peers) out.shares[domain] = peer.max_egress_ports;
  return out;
}

}  // namespace

json import_json(const ImportRecord& r, const std::string& local_host) {
  auto ts = [](const std::optional<int64_t>& ms) {
    return ms ? json(format_rfc3339(from_unix_ms(*ms))) : json(nullptr);
  };
  return {{"id", r.id},
          {"peer", r.peer},
          {"export_id", r.export_id},
          {"alias", r.alias},
          {"service", r.service},
          {"port", r.port},
          {"protocol", r.protocol},
          {"sni", r.sni},
          {"ingress", {{"host", r.ingress_host}, {"port", r.ingress_port}}},
          {"local",
           r.local_port && !local_host.empty() ? json{{"host", local_host}, {"port", *r.local_port}} : json(nullptr)},
          {"state", std::string(to_string(r.state))},
          {"reason", r.reason},
          {"version", r.version},
          {"first_seen", format_rfc3339(from_unix_ms(r.first_seen_ms))},
          {"last_seen", format_rfc3339(from_unix_ms(r.last_seen_ms))},
          {"approved_at", ts(r.approved_at_ms)},
          {"expires_at", ts(r.expires_at_ms)},
          // What the exporter's ingress lets through; null: the whole port (TCP).
          {"l7", r.l7 ? json::parse(*r.l7, nullptr, false) : json(nullptr)}};
}

ImportManager::ImportManager(store::Database& db, const Clock& clock, controlplane::Adapter& adapter,
                             ImportSettings settings, SerialExecutor* control_plane)
    : db_(db), clock_(clock), adapter_(adapter), settings_(std::move(settings)), ports_(clock),
      control_plane_(control_plane) {
  ports_.configure(port_settings(settings_));
}

Status ImportManager::transition(const store::Writer& tx, ImportRecord& r, ImportState to, const std::string& reason,
                                 const std::string& actor, bool audit_even_if_same) {
  const ImportState from = r.state;
  if (from == to && r.reason == reason && !audit_even_if_same) return {};
  r.state = to;
  r.reason = reason;
  ++r.version;
  MESHFED_RETURN_IF_ERROR(record_step(tx, r, from, actor, reason));
  // Per import at debug: a first sync can move 100,000 at once; apply_catalog logs the summary.
  spdlog::debug("import {}: {} -> {}{}", r.id, to_string(from), to_string(to),
                reason.empty() ? "" : " (" + reason + ")");
  ++transitions_;
  return {};
}

Status ImportManager::record_step(const store::Writer& tx, const ImportRecord& r, std::optional<ImportState> from,
                                  const std::string& actor, const std::string& reason) {
  store::ImportHistoryEntry step{r.id,
                                 r.version,
                                 to_unix_ms(clock_.now()),
                                 actor,
                                 from ? std::optional<std::string>(to_string(*from)) : std::nullopt,
                                 std::string(to_string(r.state)),
                                 reason,
                                 0};
  if (batch_) {
    ++batch_->counts[from == r.state ? "changed" : step.to];
    batch_->steps.push_back(std::move(step));
    return {};
  }
  nlohmann::json details = {{"peer", r.peer}, {"export_id", r.export_id}, {"alias", r.alias}};
  if (from) details["from"] = *step.from;
  if (!reason.empty()) details["reason"] = reason;
  MESHFED_ASSIGN_OR_RETURN(const auto entry, store::AuditRepository(tx).append(clock_.now(), actor, "import." + step.to,
                                                                               "import/" + r.id, std::move(details)));
  step.audit_seq = entry.seq;
  return store::ImportRepository(tx).append_history(step);
}

Status ImportManager::flush_batch(const store::Writer& tx, const std::string& actor, const std::string& action,
                                  const std::string& object, nlohmann::json details) {
  Batch batch = std::move(*batch_);
  batch_.reset();
  if (batch.steps.empty()) return {};
  // A digest of the ids, so that the entry pins down which imports moved without listing
  // 100,000 of them; each one's step is in its own history, under this entry's seq.
  std::vector<std::string_view> ids;
  ids.reserve(batch.steps.size());
  for (const auto& s : batch.steps) ids.push_back(s.import_id);
  std::sort(ids.begin(), ids.end());
  std::string joined;
  for (const auto& id : ids) (joined += id) += '\n';
  details["steps"] = batch.counts;
  details["imports"] = batch.steps.size();
  details["ids_sha256"] = sha256_hex(joined);
  MESHFED_ASSIGN_OR_RETURN(const auto entry,
                           store::AuditRepository(tx).append(clock_.now(), actor, action, object, std::move(details)));
  store::ImportRepository repo(tx);
  for (auto& s : batch.steps) {
    s.audit_seq = entry.seq;
    MESHFED_RETURN_IF_ERROR(repo.append_history(s));
  }
  return {};
}

Result<int64_t> ImportManager::prune_withdrawn(int64_t retention_days, int limit) {
  int64_t pruned = 0;
  const int64_t before = to_unix_ms(clock_.now()) - retention_days * 86'400'000;
  MESHFED_RETURN_IF_ERROR(db_.leader_transaction([&](store::Writer& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(pruned, store::ImportRepository(tx).prune_withdrawn(before, limit));
    return {};
  }));
  if (pruned > 0) {
    handed_.reset();
    spdlog::info("imports: pruned {} withdrawn for over {} days, with their history", pruned, retention_days);
  }
  return pruned;
}

Result<std::vector<store::ImportHistoryEntry>> ImportManager::history(const std::string& id) {
  return store::read_value(db_, [&](store::Reader& tx) { return store::ImportQueries(tx).history(id); });
}

Status ImportManager::withdraw(const store::Writer& tx, ImportRecord& r, const std::string& reason,
                               const std::string& actor) {
  if (is_final(r.state)) return {};
  // A final withdrawal frees the egress port; a reversible one keeps it for the import's return.
  if (!reversible(reason) && r.local_port) {
    r.local_port.reset();
    ports_.forget_use();  // read anew when a port is next taken: this one is free
  }
  MESHFED_RETURN_IF_ERROR(transition(tx, r, ImportState::kWithdrawn, reason, actor));
  return save(tx, r);
}

Result<bool> ImportManager::withdraw_all(const store::Writer& tx, const std::string& peer, const std::string& reason,
                                         const std::string& actor, const std::vector<ImportState>& states) {
  MESHFED_ASSIGN_OR_RETURN(auto imports, store::ImportQueries(tx).for_peer(peer, states));
  for (auto& r : imports) MESHFED_RETURN_IF_ERROR(withdraw(tx, r, reason, actor));
  return !imports.empty();
}

Status ImportManager::audit(const store::Writer& tx, const std::string& actor, const std::string& action,
                            const std::string& object, nlohmann::json details) {
  MESHFED_RETURN_IF_ERROR(store::AuditRepository(tx).append(clock_.now(), actor, action, object, std::move(details)));
  return {};
}

Status ImportManager::egress_port_refused(const std::string& id, int port, const std::string& error) {
  if (leading_ && !leading_()) return {};  // the leader gives out ports; another replica's host is its own
  ports_.seen();
  if (!ports_.in_range(port)) return {};
  ports_.refused(port);
  bool moved = false;
  Status st = db_.leader_transaction([&](store::Writer& tx) -> Status {
    store::ImportRepository repo(tx);
    MESHFED_ASSIGN_OR_RETURN(auto r, repo.get(id));
    if (!r || r->local_port != port || (r->state != ImportState::kActive && r->state != ImportState::kStale)) {
      return {};  // moved or withdrawn meanwhile: nothing points at the port any more
    }
    r->local_port.reset();
    // The refused port is no longer ours: it counts as another program's below.
    MESHFED_RETURN_IF_ERROR(save(tx, *r));
    std::string why_not;
    MESHFED_ASSIGN_OR_RETURN(r->local_port, ports_.take(r->peer, why_not, used_ports(tx)));
    json details = {{"peer", r->peer}, {"from_port", port}, {"refused", error}};
    if (r->local_port) {
      details["to_port"] = *r->local_port;
      MESHFED_RETURN_IF_ERROR(
          audit(tx, workflow::kSystemActor, "import.egress_port_moved", "import/" + r->id, details));
      spdlog::warn("import {}: egress port {} is held by another program ({}); moved to {}", id, port, error,
                   *r->local_port);
      ++r->version;
      ports_.given(*r);
    } else {
      MESHFED_RETURN_IF_ERROR(transition(tx, *r, ImportState::kFailed,
                                         why_not + "; port " + std::to_string(port) + ": " + escape_for_log(error, 200),
                                         workflow::kSystemActor));
    }
    MESHFED_RETURN_IF_ERROR(save(tx, *r));
    moved = true;
    return {};
  });
  if (!st) {
    ports_.forget_use();
    return st;
  }
  return moved ? reconcile() : Status{};
}

Status ImportManager::ensure_port(const store::Writer& tx, ImportRecord& r) {
  if (!settings_.egress_ports || r.local_port) return {};
  std::string why_not;
  MESHFED_ASSIGN_OR_RETURN(r.local_port, ports_.take(r.peer, why_not, used_ports(tx)));
  if (!r.local_port) MESHFED_RETURN_IF_ERROR(transition(tx, r, ImportState::kFailed, why_not, workflow::kSystemActor));
  ports_.given(r);
  return {};
}

Status ImportManager::egress_listening(const std::map<std::string, int>& listening) {
  return ports_.confirmed(listening) ? reconcile() : Status{};
}

Status ImportManager::retry_portless(const store::Writer& tx) {
  if (!settings_.egress_ports) return {};
  store::ImportRepository repo(tx);
  MESHFED_ASSIGN_OR_RETURN(auto failed, repo.in_states({ImportState::kFailed}));
  for (auto& r : failed) {
    if (r.local_port) continue;  // failed for another reason: the adapter's result decides
    std::string why_not;
    MESHFED_ASSIGN_OR_RETURN(r.local_port, ports_.take(r.peer, why_not, used_ports(tx)));
    if (!r.local_port) continue;
    MESHFED_RETURN_IF_ERROR(transition(tx, r, ImportState::kActive, "", workflow::kSystemActor));
    ports_.given(r);
    MESHFED_RETURN_IF_ERROR(save(tx, r));
  }
  return {};
}

Status ImportManager::upsert(const store::Writer& tx, const std::string& peer, const ImportedExport& e, int64_t now) {
  store::ImportRepository repo(tx);
  const std::string id = peer + "." + e.id;
  MESHFED_ASSIGN_OR_RETURN(const auto existing, repo.get(id));
  ImportRecord r = existing.value_or(ImportRecord{});
  const bool fresh = !existing;
  // What an active import points at changing (its name, the service or port behind it, the
  // ingress) is a step of its history too, not only a state change.
  std::string changed;
  if (!fresh) {
    auto note = [&](bool differs, const char* what) {
      if (differs) changed += (changed.empty() ? "" : ", ") + std::string(what);
    };
    note(r.alias != e.alias, "alias");
    note(r.mesh != e.mesh || r.service != e.service || r.port != e.port, "service");
    note(r.protocol != e.protocol, "protocol");
    note(r.sni != e.sni || r.ingress_host != e.ingress_host || r.ingress_port != e.ingress_port, "ingress");
    note(r.proxy_protocol != e.proxy_protocol, "proxy_protocol");
    note(r.l7 != e.l7, "l7");
  }
  if (fresh) {
    r.id = id;
    r.peer = peer;
    r.export_id = e.id;
    r.first_seen_ms = now;
    r.state = ImportState::kPendingAcceptance;
    r.version = 0;
  }
  r.alias = e.alias;
  r.mesh = e.mesh;
  r.service = e.service;
  r.port = e.port;
  r.protocol = e.protocol;
  r.sni = e.sni;
  r.ingress_host = e.ingress_host;
  r.ingress_port = e.ingress_port;
  r.metrics = e.metrics;
  r.proxy_protocol = e.proxy_protocol;
  r.l7 = e.l7;
  r.approved_at_ms = e.approved_at_ms;
  r.expires_at_ms = e.expires_at_ms;
  r.last_seen_ms = now;
  const auto& peer_cfg = settings_.peers.at(peer);
  const bool auto_accept = peer_cfg.policy == config::ImportPolicy::kAuto;
  if (auto_accept) r.accepted = true;

  if (e.expires_at_ms <= now) return fresh ? Status{} : withdraw(tx, r, kExpired, workflow::kSystemActor);
  const ImportState admitted = r.accepted ? ImportState::kActive : ImportState::kPendingAcceptance;
  const int64_t version_before = r.version;
  if (fresh) {
    MESHFED_RETURN_IF_ERROR(transition(tx, r, admitted, "", peer, true));
  } else if (r.state == ImportState::kWithdrawn && reversible(r.reason)) {
    MESHFED_RETURN_IF_ERROR(transition(tx, r, admitted, "", peer));
  } else if (r.state == ImportState::kStale) {
    MESHFED_RETURN_IF_ERROR(transition(tx, r, ImportState::kActive, "", peer));
  }
  if (!changed.empty() && r.version == version_before && !is_final(r.state)) {
    ++r.version;
    MESHFED_RETURN_IF_ERROR(record_step(tx, r, r.state, peer, "changed: " + changed));
  }
  if (r.state == ImportState::kActive) MESHFED_RETURN_IF_ERROR(ensure_port(tx, r));
  MESHFED_RETURN_IF_ERROR(save(tx, r));
  if (fresh && arrived_) arrived_(peer, now - e.approved_at_ms);
  return {};
}

Status ImportManager::save(const store::Writer& tx, const ImportRecord& r) {
  MESHFED_RETURN_IF_ERROR(store::ImportRepository(tx).save(r));
  if (!in_apply_) {
    // Changed outside apply_catalog: the next one reads the desired state and the ports anew.
    handed_.reset();
    ports_.forget_use();
    return {};
  }
  if (!saved_in_apply_) return {};
  // Many changes (a full snapshot after a reconnect) are cheaper read back in one query.
  if (saved_in_apply_->size() >= kMaxTrackedChanges && !saved_in_apply_->count(r.id)) {
    saved_in_apply_ = nullptr;
    return {};
  }
  (*saved_in_apply_)[r.id] = r;
  return {};
}

bool ImportManager::Desired::belongs(const ImportRecord& r) {
  return r.local_port.has_value() &&
         std::find(kInControlPlane.begin(), kInControlPlane.end(), r.state) != kInControlPlane.end();
}

void ImportManager::Desired::update(const ImportRecord& r, const std::string& egress_host) {
  const auto at = std::find_if(state.imports.begin(), state.imports.end(),
                               [&](const controlplane::DesiredImport& i) { return i.id == r.id; });
  if (!belongs(r)) {
    if (at != state.imports.end()) state.imports.erase(at);
    state_of.erase(r.id);
    return;
  }
  controlplane::DesiredImport wanted{r.id, r.peer, r.alias, r.protocol, egress_host, *r.local_port, r.port};
  if (at != state.imports.end()) {
    *at = std::move(wanted);
  } else {
    state.imports.push_back(std::move(wanted));
  }
  state_of[r.id] = r.state;
}

Status ImportManager::apply_catalog(const std::string& peer, const CatalogAnswer& answer) {
  if (!settings_.peers.count(peer)) return bad("peer " + peer + " is not configured");
  const int64_t now = to_unix_ms(clock_.now());
  std::vector<controlplane::ApplyResult> results;
  std::promise<void> written;
  bool handed_over = false;
  // What this answer saves, to bring the kept desired state up to date without reading every
  // import. Not on a shared store, where other replicas change imports (and take ports) too.
  std::map<std::string, ImportRecord> saved;
  in_apply_ = true;
  if (!db_.shared() && handed_ && applies_to_control_plane()) saved_in_apply_ = &saved;
  bool quarantined = false;
  bool held_back = false;
  int64_t steps = 0;
  Status st = db_.leader_transaction([&](store::Writer& tx) -> Status {
    // The rule sits next to the state it guards: a quarantine committed while this answer was
    // in flight (after the watcher's own check) wins, and nothing of the answer is applied.
    MESHFED_ASSIGN_OR_RETURN(quarantined, quarantined_now(tx, peer));
    if (quarantined) return {};
    if (db_.shared()) ports_.forget_use();
    transitions_ = 0;
    batch_.emplace();
    for (const auto& e : answer.exports) MESHFED_RETURN_IF_ERROR(upsert(tx, peer, e, now));
    store::ImportRepository repo(tx);
    MESHFED_RETURN_IF_ERROR(withdraw_what_left(tx, peer, answer));
    MESHFED_RETURN_IF_ERROR(revive_stale(tx, peer));
    // The rule next to the state it bounds: what this answer did is counted, and undone
    // (the transaction rolls back) when it is more than the peer may change now.
    steps = static_cast<int64_t>(batch_->steps.size());
    if (!budgets_.try_take(peer, budget_of(peer), steps, now)) {
      held_back = true;
      return make_error(ErrorCode::kFailedPrecondition, "over the change budget");
    }
    MESHFED_RETURN_IF_ERROR(flush_batch(tx, peer, "import.catalog_applied", "peer/" + peer,
                                        {{"peer", peer}, {"revision", answer.revision}, {"full", answer.full}}));
    if (applies_to_control_plane()) {
      // The control plane is written while the rest of the transaction runs and its commit is
      // made durable, not after: the two disk writes overlap. Should the commit fail, the
      // reconcile below puts the control plane back to what the store holds, as at every start.
      MESHFED_ASSIGN_OR_RETURN(const int64_t portless, repo.failed_without_port());
      if (portless > 0) MESHFED_RETURN_IF_ERROR(retry_portless(tx));
      if (handed_ && saved_in_apply_) {
        for (const auto& [id, r] : saved) handed_->update(r, settings_.egress_host);
      } else {
        MESHFED_ASSIGN_OR_RETURN(handed_, desired_now(tx));
      }
      // Read here, on the store thread, which alone changes what is awaited.
      const controlplane::DesiredState* published = &ports_.publishable(handed_->state);
      handed_over = control_plane_ && control_plane_->post([&, published] {
        results = adapter_.apply(*published);
        written.set_value();
      });
    }
    spdlog::info("peer {}: {} catalog at revision {}: {} exports, {} import transitions", peer,
                 answer.full ? "full" : "delta", answer.revision, answer.exports.size(), transitions_);
    store::PeerRepository peers(tx);
    MESHFED_ASSIGN_OR_RETURN(auto p, peers.get(peer));
    if (!p.last_refusal.empty()) {
      p.last_refusal.clear();
      MESHFED_RETURN_IF_ERROR(peers.save(p));
    }
    return touch_peer(tx, peer, answer.revision, "");
  });
  in_apply_ = false;
  saved_in_apply_ = nullptr;
  batch_.reset();  // a transaction that failed half-way leaves its steps unwritten
  if (held_back) {
    handed_.reset();  // the rollback undid what it noted
    ports_.forget_use();
    MESHFED_RETURN_IF_ERROR(apply_withdrawals(peer, answer));
    return this->held_back(peer, steps, now);
  }
  if (quarantined) return st;
  if (handed_over) written.get_future().wait();
  if (!st) {
    handed_.reset();  // they may hold what the store did not keep
    ports_.forget_use();
    (void)record_failure(peer, st.error().message);
    if (handed_over) (void)reconcile();
    return st;
  }
  if (!handed_over) return reconcile();
  return take_results(*handed_, results);
}

Status ImportManager::withdraw_what_left(const store::Writer& tx, const std::string& peer,
                                         const CatalogAnswer& answer) {
  store::ImportRepository repo(tx);
  auto withdraw_import_of = [&](const std::string& export_id) -> Status {
    MESHFED_ASSIGN_OR_RETURN(auto r, repo.get(peer + "." + export_id));
    return r ? withdraw(tx, *r, kLeftCatalog, peer) : Status{};
  };
  if (!answer.full) {
    for (const auto& id : answer.removals) MESHFED_RETURN_IF_ERROR(withdraw_import_of(id));
    return {};
  }
  // Ids first, records only for what left: a snapshot of 100,000 must not hold every import
  // record in memory next to itself.
  std::set<std::string_view> listed;
  for (const auto& e : answer.exports) listed.insert(e.id);
  MESHFED_ASSIGN_OR_RETURN(const auto held, repo.export_ids(peer, kNotFinal));
  for (const auto& id : held) {
    if (!listed.count(id)) MESHFED_RETURN_IF_ERROR(withdraw_import_of(id));
  }
  return {};
}

Status ImportManager::apply_withdrawals(const std::string& peer, const CatalogAnswer& answer) {
  size_t withdrawn = 0;
  Status st = db_.leader_transaction([&](store::Writer& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(const bool quarantined, quarantined_now(tx, peer));
    if (quarantined) return {};  // as in apply_catalog: a quarantine wins
    batch_.emplace();
    MESHFED_RETURN_IF_ERROR(withdraw_what_left(tx, peer, answer));
    withdrawn = batch_->steps.size();
    budgets_.charge(peer, budget_of(peer), static_cast<int64_t>(withdrawn), to_unix_ms(clock_.now()));
    return flush_batch(
        tx, peer, "import.catalog_applied", "peer/" + peer,
        {{"peer", peer}, {"revision", answer.revision}, {"full", answer.full}, {"withdrawals_only", true}});
  });
  batch_.reset();  // a transaction that failed half-way leaves its steps unwritten
  if (!st) {
    handed_.reset();
    ports_.forget_use();
    return st;
  }
  if (withdrawn == 0) return {};
  spdlog::info("peer {}: {} withdrawals of a held-back answer applied", peer, withdrawn);
  return reconcile();  // the control plane lets go of them now, not when the budget refills
}

Status ImportManager::refuse_catalog(const std::string& peer, const CatalogRefusal& refusal) {
  spdlog::warn("peer {}: refused catalog ({}): {}", peer, refusal.reason, escape_for_log(refusal.message));
  return db_.leader_transaction([&](store::Writer& tx) -> Status {
    store::PeerRepository peers(tx);
    MESHFED_ASSIGN_OR_RETURN(auto p, peers.get(peer));
    if (p.last_refusal != refusal.reason) {
      p.last_refusal = refusal.reason;
      MESHFED_RETURN_IF_ERROR(peers.save(p));
      MESHFED_RETURN_IF_ERROR(audit(tx, workflow::kSystemActor, "peer.catalog_refused", "peer/" + peer,
                                    {{"reason", refusal.reason}, {"detail", refusal.message}}));
    }
    return touch_peer(tx, peer, std::nullopt, "refused catalog (" + refusal.reason + "): " + refusal.message);
  });
}

Status ImportManager::revive_stale(const store::Writer& tx, const std::string& peer) {
  // The peer answered: whatever it still lists is no longer stale.
  MESHFED_ASSIGN_OR_RETURN(auto stale, store::ImportRepository(tx).for_peer(peer, {ImportState::kStale}));
  for (auto& r : stale) {
    MESHFED_RETURN_IF_ERROR(transition(tx, r, ImportState::kActive, "", peer));
    MESHFED_RETURN_IF_ERROR(save(tx, r));
  }
  return {};
}

Status ImportManager::touch_peer(const store::Writer& tx, const std::string& peer, std::optional<int64_t> revision,
                                 const std::string& error) {
  store::PeerRepository peers(tx);
  MESHFED_ASSIGN_OR_RETURN(auto p, peers.get(peer));
  const int64_t now = to_unix_ms(clock_.now());
  if (error.empty()) {
    if (p.last_error_ms && (!p.last_success_ms || *p.last_error_ms > *p.last_success_ms)) {
      spdlog::info("peer {}: answering again", peer);
    }
    p.last_success_ms = now;
    if (revision) p.revision = *revision;
    // last_error is the peer's current trouble: once it answers, there is none to show.
    p.last_error.clear();
    p.last_error_ms.reset();
  } else {
    p.last_error = error;
    p.last_error_ms = now;
  }
  return peers.save(p);
}

Status ImportManager::record_unchanged(const std::string& peer) {
  Status st = db_.leader_transaction([&](store::Writer& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(const bool quarantined, quarantined_now(tx, peer));
    if (quarantined) return {};  // as in apply_catalog: nothing of it comes back
    MESHFED_RETURN_IF_ERROR(revive_stale(tx, peer));
    return touch_peer(tx, peer, std::nullopt, "");
  });
  if (!st) return st;
  return reconcile();
}

Result<bool> ImportManager::quarantined_now(const store::Reader& tx, const std::string& peer) {
  MESHFED_ASSIGN_OR_RETURN(const auto record, store::PeerQueries(tx).get(peer));
  return record.quarantined_since_ms.has_value();
}

ChangeBudgets::Limits ImportManager::budget_of(const std::string& peer) const {
  const auto& cfg = settings_.peers.at(peer);
  return {cfg.max_changes_per_minute, cfg.change_burst};
}

std::chrono::milliseconds ImportManager::budget_wait(const std::string& peer) const {
  return budgets_.wait(peer, to_unix_ms(clock_.now()));
}

Status ImportManager::held_back(const std::string& peer, int64_t steps, int64_t now_ms) {
  const auto& cfg = settings_.peers.at(peer);
  const ChangeBudgets::HeldBack held = budgets_.held_back(peer, budget_of(peer), steps, now_ms);
  if (!held.never_fits && !held.audit) return {};
  if (held.audit) {
    spdlog::warn(
        "peer {}: flapping: an answer would change {} imports, more than its budget holds now ({:.0f} of {}, "
        "refilled at {} a minute: peers[].max_changes_per_minute); its answers wait",
        peer, steps, held.left, cfg.change_burst, cfg.max_changes_per_minute);
  }
  return db_.leader_transaction([&](store::Writer& tx) -> Status {
    store::PeerRepository peers(tx);
    if (held.never_fits) {
      // It can never fit: the next ask is a full catalog, whose steps the burst always holds.
      MESHFED_ASSIGN_OR_RETURN(auto p, peers.get(peer));
      p.revision = 0;
      MESHFED_RETURN_IF_ERROR(peers.save(p));
    }
    if (held.audit) {
      MESHFED_RETURN_IF_ERROR(store::AuditRepository(tx).append(
          from_unix_ms(now_ms), workflow::kSystemActor, "peer.flapping", "peer/" + peer,
          {{"peer", peer},
           {"answer_steps", steps},
           {"budget_left", static_cast<int64_t>(held.left)},
           {"change_burst", cfg.change_burst},
           {"max_changes_per_minute", cfg.max_changes_per_minute}}));
    }
    return {};
  });
}

Status ImportManager::record_failure(const std::string& peer, const std::string& error) {
  return db_.leader_transaction([&](store::Writer& tx) -> Status {
    // One warning when the peer starts failing, or fails differently; the same failure at every
    // retry is debug. A neighbour down for an hour is a line or two, not one per retry; the
    // peer's state, last_error and meshfed_peer_sync_errors_total keep counting.
    MESHFED_ASSIGN_OR_RETURN(const auto before, store::PeerQueries(tx).get(peer));
    const bool was_answering =
        before.last_success_ms && (!before.last_error_ms || *before.last_error_ms <= *before.last_success_ms);
    if (was_answering || before.last_error != error) {
      spdlog::warn("peer {}: {}", peer, escape_for_log(error));
    } else {
      spdlog::debug("peer {}: still {}", peer, escape_for_log(error));
    }
    return touch_peer(tx, peer, std::nullopt, error);
  });
}

Result<int64_t> ImportManager::revision(const std::string& peer) {
  MESHFED_ASSIGN_OR_RETURN(const auto record,
                           store::read_value(db_, [&](store::Reader& tx) { return store::PeerQueries(tx).get(peer); }));
  return record.revision;
}

Result<ImportRecord> ImportManager::decide(const workflow::Principal& who, const std::string& id,
                                           std::optional<int64_t> if_match, Decision decision,
                                           const std::string& comment) {
  return decision == Decision::kAccept ? accept(who, id, if_match, comment) : reject(who, id, if_match, comment);
}

namespace {

std::string decided_by(const std::string& verb, const workflow::Principal& who, const std::string& comment) {
  return verb + " by " + who.name + (comment.empty() ? "" : ": " + comment);
}

}  // namespace

Status ImportManager::act_on_peer(const workflow::Principal& who, const std::string& peer, const std::string& reason,
                                  PeerAction action) {
  return action == PeerAction::kQuarantine ? quarantine(who, peer, reason) : release(who, peer, reason);
}

Result<ImportRecord> ImportManager::accept(const workflow::Principal& who, const std::string& id,
                                           std::optional<int64_t> if_match, const std::string& comment) {
  return settle(who, id, if_match, "accept", [&](const store::Writer& tx, ImportRecord& r) -> Status {
    r.accepted = true;
    MESHFED_RETURN_IF_ERROR(transition(tx, r, ImportState::kActive, decided_by("accepted", who, comment), who.name));
    return ensure_port(tx, r);
  });
}

Result<ImportRecord> ImportManager::reject(const workflow::Principal& who, const std::string& id,
                                           std::optional<int64_t> if_match, const std::string& comment) {
  return settle(who, id, if_match, "reject", [&](const store::Writer& tx, ImportRecord& r) {
    r.local_port.reset();
    return transition(tx, r, ImportState::kRejected, decided_by("rejected", who, comment), who.name);
  });
}

// An approver's decision on an import waiting for acceptance, committed with its audit entry.
Result<ImportRecord> ImportManager::settle(const workflow::Principal& who, const std::string& id,
                                           std::optional<int64_t> if_match, const std::string& verb,
                                           const std::function<Status(const store::Writer&, ImportRecord&)>& apply) {
  if (!who.can(workflow::Role::kApprover)) {
    return make_error(ErrorCode::kPermissionDenied,
                      who.name + " lacks the approver role needed to " + verb + " imports");
  }
  MESHFED_RETURN_IF_ERROR(db_.transaction([&](store::Writer& tx) -> Status {
    ports_.forget_use();
    MESHFED_ASSIGN_OR_RETURN(auto r, store::ImportQueries(tx).get(id));
    if (!r) return make_error(ErrorCode::kNotFound, "no import " + id);
    if (if_match && *if_match != r->version) {
      return make_error(ErrorCode::kVersionMismatch, "import " + id + " is at version " + std::to_string(r->version));
    }
    if (r->state != ImportState::kPendingAcceptance) {
      return make_error(ErrorCode::kFailedPrecondition, "import " + id + " is " + std::string(to_string(r->state)) +
                                                            "; only pending_acceptance imports can be " + verb + "ed");
    }
    MESHFED_RETURN_IF_ERROR(apply(tx, *r));
    return save(tx, *r);
  }));
  (void)reconcile();
  return get(id);
}

Result<bool> ImportManager::is_quarantined(const std::string& peer) {
  auto quarantined = store::read_value(db_, [&](store::Reader& tx) { return quarantined_now(tx, peer); });
  if (!quarantined) {
    spdlog::error("imports: cannot read whether peer {} is quarantined: {}", peer, quarantined.error().message);
    return make_error(ErrorCode::kUnavailable, "cannot read whether peer " + peer + " is quarantined");
  }
  return quarantined;
}

Status ImportManager::quarantine(const workflow::Principal& who, const std::string& peer, const std::string& reason) {
  if (!who.can(workflow::Role::kAdmin)) {
    return make_error(ErrorCode::kPermissionDenied, who.name + " lacks the admin role needed to quarantine peers");
  }
  if (!settings_.peers.count(peer)) return make_error(ErrorCode::kNotFound, "no configured peer " + peer);
  if (reason.empty()) return make_error(ErrorCode::kInvalidArgument, "say why", {{"reason", "required"}});
  Status st = db_.transaction([&](store::Writer& tx) -> Status {
    store::PeerRepository peers(tx);
    MESHFED_ASSIGN_OR_RETURN(auto p, peers.get(peer));
    if (p.quarantined_since_ms)
      return make_error(ErrorCode::kFailedPrecondition, "peer " + peer + " is already quarantined");
    p.quarantined_since_ms = to_unix_ms(clock_.now());
    p.quarantined_by = who.name;
    p.quarantine_reason = reason;
    p.revision = 0;  // after release, resync from a full snapshot
    MESHFED_RETURN_IF_ERROR(peers.save(p));
    MESHFED_RETURN_IF_ERROR(withdraw_all(tx, peer, kPeerQuarantined, who.name));
    return audit(tx, who.name, "peer.quarantined", "peer/" + peer, {{"reason", reason}});
  });
  if (!st) return st;
  return reconcile();
}

Status ImportManager::release(const workflow::Principal& who, const std::string& peer, const std::string& reason) {
  if (!who.can(workflow::Role::kAdmin)) {
    return make_error(ErrorCode::kPermissionDenied, who.name + " lacks the admin role needed to release peers");
  }
  if (!settings_.peers.count(peer)) return make_error(ErrorCode::kNotFound, "no configured peer " + peer);
  return db_.transaction([&](store::Writer& tx) -> Status {
    store::PeerRepository peers(tx);
    MESHFED_ASSIGN_OR_RETURN(auto p, peers.get(peer));
    if (!p.quarantined_since_ms)
      return make_error(ErrorCode::kFailedPrecondition, "peer " + peer + " is not quarantined");
    p.quarantined_since_ms.reset();
    p.quarantined_by.clear();
    p.quarantine_reason.clear();
    MESHFED_RETURN_IF_ERROR(peers.save(p));
    return audit(tx, who.name, "peer.released", "peer/" + peer, {{"reason", reason}});
  });
}

Status ImportManager::update_settings(ImportSettings settings) {
  const auto old = std::move(settings_);
  settings_ = std::move(settings);
  ports_.configure(port_settings(settings_));
  std::set<std::string> configured;
  for (const auto& [domain, peer] : settings_.peers) configured.insert(domain);
  budgets_.keep_only(configured);
  Status st = db_.transaction([&](store::Writer& tx) -> Status {
    store::PeerRepository peers(tx);
    for (const auto& [domain, peer] : old.peers) {
      if (settings_.peers.count(domain)) continue;
      MESHFED_RETURN_IF_ERROR(withdraw_all(tx, domain, kPeerRemoved, workflow::kSystemActor));
      MESHFED_ASSIGN_OR_RETURN(auto p, peers.get(domain));
      p.revision = 0;  // if it comes back, it starts from a full snapshot
      MESHFED_RETURN_IF_ERROR(peers.save(p));
    }
    return {};
  });
  if (!st) return st;
  return reconcile();
}

Status ImportManager::tick() {
  if (leading_ && !leading_()) return {};
  const int64_t now = to_unix_ms(clock_.now());
  // A port another program held may be free now: an import that found none tries again.
  bool changed = ports_.refusals_expired();
  batch_.emplace();  // a peer gone silent with 100,000 imports is one entry, not 100,000
  Status st = db_.leader_transaction([&](store::Writer& tx) -> Status {
    store::ImportRepository repo(tx);
    store::PeerRepository peers(tx);
    // Expiry holds even while the peer is away.
    MESHFED_ASSIGN_OR_RETURN(auto expiring, repo.expiring(now, kNotFinal));
    for (auto& r : expiring) {
      MESHFED_RETURN_IF_ERROR(withdraw(tx, r, kExpired, workflow::kSystemActor));
      changed = true;
    }
    for (const auto& [domain, cfg] : settings_.peers) {
      MESHFED_ASSIGN_OR_RETURN(auto p, peers.get(domain));
      if (p.quarantined_since_ms || !p.last_success_ms) continue;
      const int64_t silence = now - *p.last_success_ms;
      if (silence <= settings_.stale_after_s * 1000) continue;  // the common case costs one row
      if (silence > settings_.withdraw_after_s * 1000) {
        MESHFED_ASSIGN_OR_RETURN(const bool withdrew,
                                 withdraw_all(tx, domain, kPeerSilent, workflow::kSystemActor, kNotFinal));
        changed = changed || withdrew;
        if (p.revision != 0) {
          p.revision = 0;  // when it answers again, the full snapshot brings the imports back
          MESHFED_RETURN_IF_ERROR(peers.save(p));
        }
        continue;
      }
      MESHFED_ASSIGN_OR_RETURN(auto active, repo.for_peer(domain, {ImportState::kActive}));
      for (auto& r : active) {
        MESHFED_RETURN_IF_ERROR(transition(tx, r, ImportState::kStale,
                                           "no answer from " + domain + " for " + std::to_string(silence / 1000) + "s",
                                           workflow::kSystemActor));
        MESHFED_RETURN_IF_ERROR(save(tx, r));
        changed = true;
      }
    }
    return flush_batch(tx, workflow::kSystemActor, "import.swept", "imports", nlohmann::json::object());
  });
  batch_.reset();
  if (!st) return st;
  return changed ? reconcile() : Status{};
}

bool ImportManager::applies_to_control_plane() const {
  // Not when observing only (no egress ports), nor on a follower (the leader applies what it
  // committed).
  return settings_.egress_ports && (!leading_ || leading_());
}

Result<ImportManager::Desired> ImportManager::desired_now(const store::Reader& tx) {
  Desired d;
  MESHFED_ASSIGN_OR_RETURN(const auto applied, store::ImportQueries(tx).with_egress_ports(kInControlPlane));
  for (const auto& r : applied) {
    d.state_of[r.id] = r.state;
    d.state.imports.push_back({r.id, r.peer, r.alias, r.protocol, settings_.egress_host, r.local_port, r.port});
  }
  return d;
}

Status ImportManager::reconcile() {
  if (!applies_to_control_plane()) {
    handed_.reset();  // nothing is handed over; applying again (an election, a reload) reads anew
    return {};
  }
  Desired desired;
  // A read, unless an import that found no egress port may get one now (a write, taking ports).
  bool retry = false;
  Status st = db_.read([&](store::Reader& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(const int64_t portless, store::ImportQueries(tx).failed_without_port());
    retry = portless > 0;
    if (retry) return {};
    MESHFED_ASSIGN_OR_RETURN(desired, desired_now(tx));
    return {};
  });
  if (st && retry) {
    st = db_.leader_transaction([&](store::Writer& tx) -> Status {
      ports_.forget_use();
      MESHFED_RETURN_IF_ERROR(retry_portless(tx));
      MESHFED_ASSIGN_OR_RETURN(desired, desired_now(tx));
      return {};
    });
  }
  if (!st) {
    handed_.reset();
    return st;
  }
  handed_ = std::move(desired);
  return take_results(*handed_, adapter_.apply(ports_.publishable(handed_->state)));
}

Status ImportManager::take_results(const Desired& desired, const std::vector<controlplane::ApplyResult>& results) {
  // Only an import whose outcome differs from its state moves (failed, or failed no longer).
  std::vector<const controlplane::ApplyResult*> moved;
  for (const auto& res : results) {
    const auto it = desired.state_of.find(res.id);
    if (res.kind != controlplane::ApplyResult::Kind::kImport || it == desired.state_of.end()) continue;
    if (res.applied == (it->second == ImportState::kFailed)) moved.push_back(&res);
  }
  Status st;
  if (!moved.empty()) {
    st = db_.leader_transaction([&](store::Writer& tx) -> Status {
      store::ImportQueries imports(tx);
      for (const auto* res : moved) {
        MESHFED_ASSIGN_OR_RETURN(auto r, imports.get(res->id));
        if (!r) continue;
        if (!res->applied && r->state != ImportState::kFailed) {
          MESHFED_RETURN_IF_ERROR(transition(tx, *r, ImportState::kFailed, res->reason, workflow::kSystemActor));
          MESHFED_RETURN_IF_ERROR(save(tx, *r));
        } else if (res->applied && r->state == ImportState::kFailed && r->local_port) {
          MESHFED_RETURN_IF_ERROR(transition(tx, *r, ImportState::kActive, "", workflow::kSystemActor));
          MESHFED_RETURN_IF_ERROR(save(tx, *r));
        }
      }
      return {};
    });
  }
  if (changed_) changed_();
  return st;
}

Result<ImportRecord> ImportManager::get(const std::string& id) {
  MESHFED_ASSIGN_OR_RETURN(auto r,
                           store::read_value(db_, [&](store::Reader& tx) { return store::ImportQueries(tx).get(id); }));
  if (!r) return make_error(ErrorCode::kNotFound, "no import " + id);
  ports_.annotate(*r);
  return std::move(*r);
}

Result<std::set<std::string>> ImportManager::live_aliases(const std::string& peer) {
  return store::read_value(db_, [&](store::Reader& tx) { return store::ImportQueries(tx).aliases(peer, kNotFinal); });
}

Result<std::pair<std::vector<ImportRecord>, std::optional<std::string>>> ImportManager::list(const std::string& after,
                                                                                             int limit) {
  int64_t after_seq = 0;
  if (!after.empty()) {
    auto n = parse_int(after);
    if (!n || *n < 0)
      return make_error(ErrorCode::kInvalidArgument, "bad cursor", {{"after", "expected a cursor from next"}});
    after_seq = *n;
  }
  MESHFED_ASSIGN_OR_RETURN(auto items, store::read_value(db_, [&](store::Reader& tx) {
                             return store::ImportQueries(tx).list(after_seq, limit + 1);
                           }));
  auto next = cut_page(items, limit);
  for (auto& r : items) ports_.annotate(r);
  return std::make_pair(std::move(items), std::move(next));
}

Result<std::vector<PeerStatus>> ImportManager::peers() {
  std::vector<PeerStatus> out;
  const int64_t now = to_unix_ms(clock_.now());
  MESHFED_RETURN_IF_ERROR(db_.read([&](store::Reader& tx) -> Status {
    store::PeerQueries peers(tx);
    store::ImportQueries imports(tx);
    for (const auto& [domain, cfg] : settings_.peers) {
      PeerStatus s;
      MESHFED_ASSIGN_OR_RETURN(s.record, peers.get(domain));
      s.trust_domain = cfg.trust_domain;
      s.state = peer_state(s.record, now, settings_.stale_after_s);
      if (budgets_.flapping(domain) && s.state != PeerState::kQuarantined) {
        s.state = PeerState::kFlapping;
      }
      // Counted by the database: loading 100,000 imports here held the store thread for 150 ms
      // at every /metrics scrape, status line and GET /api/v1/peers.
      MESHFED_ASSIGN_OR_RETURN(s.imports, imports.count_by_state(domain));
      out.push_back(std::move(s));
    }
    return {};
  }));
  return out;
}

}  // namespace meshfed::federation
