#include "meshfed/workflow/export_workflow.hpp"

#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include "meshfed/core/paging.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/catalog_repository.hpp"
#include "meshfed/store/export_repository.hpp"

namespace meshfed::workflow {
namespace {

using store::ExportRecord;
using store::ExportState;

// A Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), optionally ending in '*' to select a prefix.
bool is_metric_selector(std::string_view s) {
  if (!s.empty() && s.back() == '*') s.remove_suffix(1);
  if (s.empty()) return false;
  auto name_char = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (!name_char(s[i], i == 0)) return false;
  }
  return true;
}

Error wrong_state(const ExportRecord& e, const std::string& verb) {
  const bool needs_approved = verb == "revoke" || verb == "extend" || verb.starts_with("l7");
  return make_error(ErrorCode::kFailedPrecondition, "export " + e.id + " is " + std::string(to_string(e.state)) +
                                                        "; cannot " + verb + " it (" + verb + " needs " +
                                                        (needs_approved ? "approved" : "pending") + ")");
}

Error forbidden(const std::string& why) { return make_error(ErrorCode::kPermissionDenied, why); }

// The export `id` as stored, if it is still at the version its caller last saw (If-Match).
Result<ExportRecord> stored_export(const store::Writer& tx, const std::string& id, std::optional<int64_t> if_match) {
  MESHFED_ASSIGN_OR_RETURN(auto found, store::ExportRepository(tx).get(id));
  if (!found) return make_error(ErrorCode::kNotFound, "no export " + id);
  if (if_match && *if_match != found->version) {
    return make_error(ErrorCode::kVersionMismatch, "export " + id + " is at version " + std::to_string(found->version) +
                                                       ", not " + std::to_string(*if_match) + " (If-Match)");
  }
  return std::move(*found);
}

std::string action_name(const std::string& verb) {
  static const std::map<std::string, std::string> kPast{
      {"approve", "approved"}, {"reject", "rejected"},        {"extend", "extended"},      {"revoke", "revoked"},
      {"cancel", "cancelled"}, {"l7/approve", "l7_approved"}, {"l7/reject", "l7_rejected"}};
  return kPast.at(verb);
}

}  // namespace

nlohmann::json summary_json(const ExportRecord& e) {
  nlohmann::json out = {{"mesh", e.mesh},
                        {"service", e.service},
                        {"port", e.port},
                        {"alias", e.alias},
                        {"peers", e.peers},
                        {"sni", e.sni},
                        {"state", std::string(to_string(e.state))},
                        {"version", e.version}};
  if (e.l7) out["l7"] = nlohmann::json::parse(*e.l7, nullptr, false);  // what was approved, in the log
  if (e.l7_change) {
    out["l7_change"] = {{"l7", nlohmann::json::parse(*e.l7_change, nullptr, false)},
                        {"proposed_by", e.l7_change_by.value_or("")}};
  }
  return out;
}

ExportWorkflow::ExportWorkflow(store::Database& db, const Clock& clock, const controlplane::Adapter& cp,
                               WorkflowSettings settings, store::Reads* reads)
    : db_(db), reads_(reads ? *reads : db), clock_(clock), cp_(cp), settings_(std::move(settings)) {}

void ExportWorkflow::update_settings(WorkflowSettings settings) {
  MutexLock lock(settings_mu_);
  settings_ = std::move(settings);
}

void ExportWorkflow::set_catalog_listener(CatalogListener listener) { catalog_listener_ = std::move(listener); }

void ExportWorkflow::announce(const std::set<std::string>& peers, const std::set<std::string>& export_ids) {
  if (catalog_listener_ && !peers.empty()) catalog_listener_(peers, export_ids);
}

WorkflowSettings ExportWorkflow::settings() const {
  MutexLock lock(settings_mu_);
  return settings_;
}

Result<std::string> ExportWorkflow::new_export_id(const store::Reader& tx, const std::string& alias) {
  // Readable and DNS-safe: the alias, then random characters so that ids are never reused
  // even after the alias is freed by a revocation.
  store::ExportQueries repo(tx);
  for (;;) {
    std::string id = alias.substr(0, 54) + "-" + random_dns_chars(8);
    MESHFED_ASSIGN_OR_RETURN(const bool taken, repo.exists(id));
    if (!taken) return id;
  }
}

Result<ExportRecord> ExportWorkflow::request(const Principal& who, const ExportRequest& req) {
  if (!who.can(Role::kRequester)) {
    return forbidden(who.name + " lacks the requester role needed to request exports");
  }
  const WorkflowSettings s = settings();
  std::vector<FieldError> errors;
  if (req.mesh.empty()) errors.push_back({"mesh", "required"});
  if (req.service.empty()) errors.push_back({"service", "required"});
  if (req.port < 1 || req.port > 65535) errors.push_back({"port", "expected a port number 1-65535"});
  if (req.peers.empty()) errors.push_back({"peers", "name at least one peer domain"});
  std::set<std::string> unique_peers;
  for (size_t i = 0; i < req.peers.size(); ++i) {
    const auto& p = req.peers[i];
    if (!s.peers.count(p)) {
      errors.push_back({"peers[" + std::to_string(i) + "]", "\"" + p + "\" is not a configured peer domain"});
    } else if (!unique_peers.insert(p).second) {
      errors.push_back({"peers[" + std::to_string(i) + "]", "\"" + p + "\" is listed twice"});
    }
  }
  const std::string alias = req.alias.empty() ? req.service : req.alias;
  if (!is_rfc1035_label(alias)) {
    errors.push_back(
        {"alias", "expected an RFC 1035 label (lowercase letters, digits, '-', at most 63), got \"" + alias + "\""});
  }
  for (size_t i = 0; i < req.metrics.size(); ++i) {
    if (!is_metric_selector(req.metrics[i])) {
      errors.push_back({"metrics[" + std::to_string(i) + "]",
                        "expected a metric name or a prefix ending in '*', got \"" + req.metrics[i] + "\""});
    }
  }
  const int64_t ttl = req.ttl_s.value_or(s.default_ttl_s);
  if (ttl < 1 || ttl > s.max_ttl_s) {
    errors.push_back({"ttl_s", "expected 1.." + std::to_string(s.max_ttl_s) + " seconds (exports.max_ttl_s), got " +
                                   std::to_string(ttl)});
  }
  if (req.reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    errors.push_back({"reason", "required: say why this service should leave the domain"});
  }
  const auto inv = cp_.inventory();
  const controlplane::Service* svc = nullptr;
  if (!req.mesh.empty() && !req.service.empty()) {
    svc = inv->find(req.mesh, req.service, req.zone);
    if (!svc) {
      errors.push_back({"service", "no service \"" + req.service + "\" in mesh \"" + req.mesh + "\"" +
                                       (req.zone.empty() ? "" : " and zone \"" + req.zone + "\"") +
                                       " in the inventory"});
    } else if (req.port >= 1 && req.port <= 65535 && !svc->find_port(static_cast<int>(req.port))) {
      errors.push_back({"port", "service \"" + req.service + "\" has no port " + std::to_string(req.port)});
    } else if (req.l7) {
      const std::string& protocol = svc->find_port(static_cast<int>(req.port))->protocol;
      if (auto fits = policy::fits_protocol(*req.l7, protocol); !fits) {
        errors.insert(errors.end(), fits.error().fields.begin(), fits.error().fields.end());
      }
    }
  }
  if (!errors.empty())
    return make_error(ErrorCode::kInvalidArgument, "the export request is invalid", std::move(errors));

  ExportRecord e;
  const int64_t now = to_unix_ms(clock_.now());
  MESHFED_RETURN_IF_ERROR(db_.transaction([&](store::Writer& tx) -> Status {
    store::ExportRepository repo(tx);
    for (const auto& p : req.peers) {
      MESHFED_ASSIGN_OR_RETURN(const auto clash, repo.live_ids_with_alias(alias, p));
      if (!clash.empty()) {
        return make_error(ErrorCode::kAlreadyExists,
                          "alias \"" + alias + "\" is already used by live export " + clash.front() + " to peer " + p,
                          {{"alias", "already used by live export " + clash.front() + " to peer " + p}});
      }
    }
    MESHFED_ASSIGN_OR_RETURN(e.id, new_export_id(tx, alias));
    e.mesh = req.mesh;
    e.service = req.service;
    e.port = static_cast<int>(req.port);
    e.protocol = svc->find_port(e.port)->protocol;
    e.zone = svc->zone;
    e.alias = alias;
    e.peers.assign(unique_peers.begin(), unique_peers.end());
    e.metrics = req.metrics;
    e.proxy_protocol = req.proxy_protocol;
    if (req.l7) e.l7 = policy::to_json(*req.l7).dump();  // keys sorted: one text per rule set
    e.sni = e.id + "." + s.trust_domain + ".meshfed";
    e.state = ExportState::kPending;
    e.version = 1;
    e.requested_by = who.name;
    e.requested_at_ms = now;
    e.reason = req.reason;
    e.ttl_s = ttl;
    e.pending_expires_at_ms = now + s.pending_expiry_s * 1000;
    MESHFED_RETURN_IF_ERROR(repo.insert(e));
    return record_transition(tx, clock_.now(), e, who.name, "requested", std::nullopt, req.reason);
  }));
  spdlog::info("export {} requested by {}: {}/{}:{} to [{}]", e.id, who.name, e.mesh, e.service, e.port,
               fmt::join(e.peers, ","));
  return get(e.id);
}

Status record_transition(const store::Writer& tx, TimePoint now, ExportRecord& e, const std::string& actor,
                         const std::string& action, std::optional<ExportState> from, const std::string& comment,
                         bool peers_see_it) {
  nlohmann::json details = summary_json(e);
  if (from) details["from"] = std::string(to_string(*from));
  if (!comment.empty()) details["comment"] = comment;
  if (e.expires_at_ms) details["expires_at"] = format_rfc3339(from_unix_ms(*e.expires_at_ms));
  MESHFED_ASSIGN_OR_RETURN(
      const audit::Entry written,
      store::AuditRepository(tx).append(now, actor, "export." + action, "export/" + e.id, std::move(details)));
  store::HistoryEntry h{to_unix_ms(now), actor, action, from, e.state, comment, written.seq};
  store::ExportRepository repo(tx);
  MESHFED_RETURN_IF_ERROR(repo.append_history(e.id, h));
  e.history.push_back(h);  // the record as it now reads, without reading it back
  if (from) MESHFED_RETURN_IF_ERROR(repo.update(e));
  // Peers see approved exports only: entering, leaving or changing while approved is a
  // catalog change, recorded in the same transaction as the transition itself.
  if (peers_see_it && (from == ExportState::kApproved || e.state == ExportState::kApproved)) {
    MESHFED_RETURN_IF_ERROR(store::CatalogRepository(tx).record_change(e.id, h.time_ms));
  }
  return {};
}

std::string_view to_string(ExportAction action) {
  switch (action) {
    case ExportAction::kApprove:
      return "approve";
    case ExportAction::kReject:
      return "reject";
    case ExportAction::kExtend:
      return "extend";
    case ExportAction::kRevoke:
      return "revoke";
    case ExportAction::kCancel:
      return "cancel";
    case ExportAction::kApproveL7:
      return "l7/approve";
    case ExportAction::kRejectL7:
      return "l7/reject";
  }
  return "unknown";
}

Result<ExportRecord> ExportWorkflow::decide(const Principal& who, const std::string& id, const Decision& d,
                                            ExportAction action) {
  using Action = ExportAction;
  const std::string verb(to_string(action));
  // Coarse role check first, so that callers without any business here learn nothing more.
  const bool approver = who.can(Role::kApprover);
  const bool requester = who.can(Role::kRequester);
  const bool needs_approver = action == Action::kApprove || action == Action::kReject || action == Action::kExtend ||
                              action == Action::kApproveL7;
  if (needs_approver && !approver) {
    return forbidden(who.name + " lacks the approver role needed to " + verb + " exports");
  }
  if ((action == Action::kRevoke || action == Action::kCancel || action == Action::kRejectL7) && !approver &&
      !requester) {
    return forbidden(who.name + " lacks the requester or approver role needed to " + verb + " exports");
  }
  const WorkflowSettings s = settings();
  if (action == Action::kExtend && d.ttl_s && (*d.ttl_s < 1 || *d.ttl_s > s.max_ttl_s)) {
    return make_error(ErrorCode::kInvalidArgument, "ttl_s is out of range",
                      {{"ttl_s", "expected 1.." + std::to_string(s.max_ttl_s) + " seconds (exports.max_ttl_s), got " +
                                     std::to_string(*d.ttl_s)}});
  }

  std::optional<ExportRecord> result;
  bool four_eyes = false;  // refused by the four-eyes rule: audited after the rollback
  Status st = db_.transaction([&](store::Writer& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(ExportRecord e, stored_export(tx, id, d.if_match));
    const bool own = e.requested_by == who.name;
    const ExportState from = e.state;
    const int64_t now = to_unix_ms(clock_.now());
    switch (action) {
      case Action::kApprove:
      case Action::kReject:
        if (from != ExportState::kPending) return wrong_state(e, verb);
        if (own) {
          four_eyes = true;
          return forbidden("four-eyes rule: " + who.name + " requested export " + id + " and cannot " + verb +
                           " it; another approver must");
        }
        e.decided_by = who.name;
        if (action == Action::kApprove) {
          e.state = ExportState::kApproved;
          e.approved_at_ms = now;
          e.expires_at_ms = now + e.ttl_s * 1000;
        } else {
          e.state = ExportState::kRejected;
        }
        break;
      case Action::kExtend:
        if (from != ExportState::kApproved) return wrong_state(e, verb);
        if (own) {
          four_eyes = true;
          return forbidden("four-eyes rule: " + who.name + " requested export " + id +
                           " and cannot extend it; another approver must");
        }
        if (d.ttl_s) e.ttl_s = *d.ttl_s;
        e.expires_at_ms = now + e.ttl_s * 1000;
        break;
      case Action::kRevoke:
        if (from != ExportState::kApproved) return wrong_state(e, verb);
        if (!approver && !own) {
          return forbidden(who.name + " may revoke only exports they requested; " + id + " was requested by " +
                           e.requested_by);
        }
        e.state = ExportState::kRevoked;
        break;
      case Action::kCancel:
        if (from != ExportState::kPending) return wrong_state(e, verb);
        if (!own) {
          return forbidden("only the requester (" + e.requested_by + ") may cancel export " + id);
        }
        e.state = ExportState::kCancelled;
        break;
      case Action::kApproveL7:
      case Action::kRejectL7:
        if (from != ExportState::kApproved) return wrong_state(e, verb);
        if (!e.l7_change) {
          return make_error(ErrorCode::kFailedPrecondition, "export " + id + " has no change of its L7 rules waiting");
        }
        if (action == Action::kApproveL7 && e.l7_change_by == who.name) {
          four_eyes = true;
          return forbidden("four-eyes rule: " + who.name + " proposed the new L7 rules of export " + id +
                           " and cannot approve them; another approver must");
        }
        if (action == Action::kRejectL7 && !approver && e.l7_change_by != who.name) {
          return forbidden(who.name + " may withdraw only L7 changes they proposed; export " + id +
                           "'s was proposed by " + e.l7_change_by.value_or(""));
        }
        if (action == Action::kApproveL7) e.l7 = e.l7_change;
        e.l7_change.reset();
        e.l7_change_by.reset();
        break;
    }
    ++e.version;
    MESHFED_RETURN_IF_ERROR(record_transition(tx, clock_.now(), e, who.name, action_name(verb), from, d.comment,
                                              action != Action::kRejectL7));
    result = std::move(e);
    return {};
  });
  if (!st) {
    // An attempt to approve one's own request is what an auditor asks about first.
    if (four_eyes) (void)record_event(who.name, "export.four_eyes_refused", "export/" + id, {{"action", verb}});
    return st.error();
  }
  if (action == Action::kApprove || action == Action::kExtend || action == Action::kRevoke ||
      action == Action::kApproveL7) {
    announce(std::set<std::string>(result->peers.begin(), result->peers.end()), {id});  // peers first
  }
  spdlog::info("export {} {} by {}", id, action_name(verb), who.name);
  return std::move(*result);
}

Result<ExportRecord> ExportWorkflow::approve(const Principal& who, const std::string& id, const Decision& d) {
  return decide(who, id, d, ExportAction::kApprove);
}
Result<ExportRecord> ExportWorkflow::reject(const Principal& who, const std::string& id, const Decision& d) {
  return decide(who, id, d, ExportAction::kReject);
}
Result<ExportRecord> ExportWorkflow::extend(const Principal& who, const std::string& id, const Decision& d) {
  return decide(who, id, d, ExportAction::kExtend);
}
Result<ExportRecord> ExportWorkflow::revoke(const Principal& who, const std::string& id, const Decision& d) {
  return decide(who, id, d, ExportAction::kRevoke);
}
Result<ExportRecord> ExportWorkflow::cancel(const Principal& who, const std::string& id, const Decision& d) {
  return decide(who, id, d, ExportAction::kCancel);
}

Result<ExportRecord> ExportWorkflow::propose_l7(const Principal& who, const std::string& id,
                                                const policy::L7Rules& rules, const Decision& d) {
  if (!who.can(Role::kApprover) && !who.can(Role::kRequester)) {
    return forbidden(who.name + " lacks the requester or approver role needed to propose L7 rules");
  }
  const std::string proposed = policy::to_json(rules).dump();
  std::optional<ExportRecord> result;
  MESHFED_RETURN_IF_ERROR(db_.transaction([&](store::Writer& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(ExportRecord e, stored_export(tx, id, d.if_match));
    if (e.state != ExportState::kApproved) return wrong_state(e, "l7");
    if (auto fits = policy::fits_protocol(rules, e.protocol); !fits) return fits.error();
    if (e.l7_change) {
      return make_error(ErrorCode::kFailedPrecondition, "export " + id + " already has a change of its L7 rules, by " +
                                                            e.l7_change_by.value_or("") +
                                                            ", waiting: approve or reject it first");
    }
    if (e.l7 == proposed) {
      return make_error(ErrorCode::kInvalidArgument, "these L7 rules are already in force",
                        {{"l7", "the same rules as export " + id + " has"}});
    }
    e.l7_change = proposed;
    e.l7_change_by = who.name;
    ++e.version;
    MESHFED_RETURN_IF_ERROR(
        record_transition(tx, clock_.now(), e, who.name, "l7_proposed", e.state, d.comment, /*peers_see_it=*/false));
    result = std::move(e);
    return {};
  }));
  spdlog::info("export {}: new L7 rules proposed by {}", id, who.name);
  return std::move(*result);
}

Result<ExportRecord> ExportWorkflow::get(const std::string& id) {
  MESHFED_ASSIGN_OR_RETURN(
      auto e, store::read_value(reads_, [&](store::Reader& tx) { return store::ExportQueries(tx).get(id); }));
  if (!e) return make_error(ErrorCode::kNotFound, "no export " + id);
  return std::move(*e);
}

Result<ExportPage> ExportWorkflow::list(std::optional<ExportState> state, const std::string& after, int limit) {
  store::ExportQuery q;
  q.state = state;
  q.limit = limit + 1;  // one more tells whether there is a next page
  if (!after.empty()) {
    auto seq = parse_int(after);
    if (!seq || *seq < 0) {
      return make_error(ErrorCode::kInvalidArgument, "bad cursor",
                        {{"after", "expected a cursor from a previous page's next"}});
    }
    q.after_seq = *seq;
  }
  ExportPage page;
  MESHFED_ASSIGN_OR_RETURN(
      page.items, store::read_value(reads_, [&](store::Reader& tx) { return store::ExportQueries(tx).list(q); }));
  page.next = cut_page(page.items, limit);
  return page;
}

Status ExportWorkflow::for_each_approved(const std::function<void(const store::ExportRecord&)>& fn) {
  for (std::string after;;) {
    MESHFED_ASSIGN_OR_RETURN(auto page, list(ExportState::kApproved, after, 1000));
    for (const auto& e : page.items) fn(e);
    if (!page.next) return {};
    after = *page.next;
  }
}

Result<std::map<std::string, int64_t>> ExportWorkflow::count_by_state() {
  return store::read_value(db_, [&](store::Reader& tx) { return store::ExportQueries(tx).count_by_state(); });
}

Result<std::map<std::pair<std::string, std::string>, int64_t>> ExportWorkflow::count_by_peer_and_state() {
  return store::read_value(db_, [&](store::Reader& tx) { return store::ExportQueries(tx).count_by_peer_and_state(); });
}

Result<int> ExportWorkflow::expire_due() {
  const int64_t now = to_unix_ms(clock_.now());
  int count = 0;
  std::set<std::string> affected, expired_approvals;
  MESHFED_RETURN_IF_ERROR(db_.leader_transaction([&](store::Writer& tx) -> Status {
    store::ExportRepository repo(tx);
    MESHFED_ASSIGN_OR_RETURN(const auto due, repo.due_for_expiry(now));
    for (const auto& id : due) {
      MESHFED_ASSIGN_OR_RETURN(auto e, repo.get(id));
      if (!e) continue;
      const ExportState from = e->state;
      if (from == ExportState::kApproved) {
        affected.insert(e->peers.begin(), e->peers.end());
        expired_approvals.insert(id);
      }
      e->state = ExportState::kExpired;
      ++e->version;
      const std::string comment =
          from == ExportState::kPending ? "pending request not decided in time" : "approval reached expires_at";
      MESHFED_RETURN_IF_ERROR(record_transition(tx, clock_.now(), *e, kSystemActor, "expired", from, comment));
      spdlog::info("export {} expired ({})", id, comment);
      ++count;
    }
    return {};
  }));
  announce(affected, expired_approvals);
  return count;
}

Result<std::optional<TimePoint>> ExportWorkflow::next_deadline() {
  MESHFED_ASSIGN_OR_RETURN(const auto ms, store::read_value(db_, [&](store::Reader& tx) {
                             return store::ExportQueries(tx).next_deadline();
                           }));
  if (!ms) return std::optional<TimePoint>();
  return std::optional<TimePoint>(from_unix_ms(*ms));
}

namespace {
bool missing_from(const controlplane::Inventory& inv, const std::string& mesh, const std::string& service,
                  const std::string& zone, int64_t port) {
  const auto* svc = inv.find(mesh, service, zone);
  return !svc || !svc->find_port(static_cast<int>(port));
}
}  // namespace

bool ExportWorkflow::target_missing(const ExportRecord& e) const {
  return missing_from(*cp_.inventory(), e.mesh, e.service, e.zone, e.port);
}

Result<int64_t> ExportWorkflow::count_target_missing() {
  MESHFED_ASSIGN_OR_RETURN(const auto targets, store::read_value(db_, [&](store::Reader& tx) {
                             return store::ExportQueries(tx).approved_targets();
                           }));
  const auto inv = cp_.inventory();
  int64_t missing = 0;
  for (const auto& t : targets) {
    if (missing_from(*inv, t.mesh, t.service, t.zone, t.port)) missing += t.exports;
  }
  return missing;
}

Result<std::vector<store::ExportRepository::MetricSelection>> ExportWorkflow::metric_selections() {
  const int64_t now = to_unix_ms(clock_.now());
  return store::read_value(db_, [&](store::Reader& tx) { return store::ExportQueries(tx).metric_selections(now); });
}

Result<std::pair<std::vector<audit::Entry>, std::optional<std::string>>> ExportWorkflow::audit_page(int64_t after_seq,
                                                                                                    int limit) {
  MESHFED_ASSIGN_OR_RETURN(auto entries, store::read_value(reads_, [&](store::Reader& tx) {
                             return store::AuditQueries(tx).list(after_seq, limit + 1);
                           }));
  auto next = cut_page(entries, limit);
  return std::make_pair(std::move(entries), std::move(next));
}

Result<std::pair<int64_t, std::string>> ExportWorkflow::audit_head() {
  MESHFED_ASSIGN_OR_RETURN(const auto head,
                           store::read_value(reads_, [](store::Reader& tx) { return store::AuditQueries(tx).head(); }));
  return std::make_pair(head.seq, head.hash);
}

Result<ExportWorkflow::VerifiedAudit> ExportWorkflow::verify_audit() {
  const TimePoint now = clock_.now();
  if (last_verified_ && now - last_verified_->checked_at < kVerifyAtMostEvery) return *last_verified_;
  MESHFED_ASSIGN_OR_RETURN(auto report, workflow::verify_audit(db_, std::nullopt));
  last_verified_ = VerifiedAudit{std::move(report), now};
  return *last_verified_;
}

Status ExportWorkflow::record_event(const std::string& actor, const std::string& action, const std::string& object,
                                    nlohmann::json details) {
  return db_.transaction([&](store::Writer& tx) -> Status {
    MESHFED_RETURN_IF_ERROR(store::AuditRepository(tx).append(clock_.now(), actor, action, object, std::move(details)));
    return {};
  });
}

}  // namespace meshfed::workflow
