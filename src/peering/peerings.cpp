#include "meshfed/peering/peerings.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "meshfed/core/durable_file.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/peering/bundle.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/peering_repository.hpp"

namespace meshfed::peering {
namespace {

Error forbidden(const workflow::Principal& who, const std::string& what) {
  return make_error(ErrorCode::kPermissionDenied, who.name + " lacks the admin role needed to " + what);
}

Error invalid(const std::string& field, const std::string& message) {
  return make_error(ErrorCode::kInvalidArgument, field + ": " + message, {{field, message}});
}

}  // namespace

Result<std::vector<nlohmann::json>> peer_entries(const std::vector<store::PeeringRecord>& peerings,
                                                 const std::filesystem::path& ca_dir) {
  std::vector<nlohmann::json> out;
  for (const auto& p : peerings) {
    if (p.state != store::PeeringState::kActive) continue;
    const auto doc = nlohmann::json::parse(p.bundle, nullptr, false);
    auto bundle = parse_bundle(doc);  // as stored by propose(): read as carefully as it came in
    if (!bundle) return make_error(ErrorCode::kInternal, "the stored bundle of peer " + p.domain + " is unreadable");
    std::error_code ec;
    if (std::filesystem::create_directories(ca_dir, ec)) {
      std::filesystem::permissions(ca_dir, std::filesystem::perms::owner_all, ec);
    }
    if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + ca_dir.string() + ": " + ec.message());
    std::string pem;
    for (const auto& cert : bundle->ca_pem) pem += cert;
    const auto ca_file = ca_dir / (p.domain + ".pem");
    MESHFED_RETURN_IF_ERROR(replace_file_durably(ca_file, pem));
    nlohmann::json entry = {{"domain", bundle->domain},
                            {"trust_domain", bundle->trust_domain},
                            {"url", bundle->peer_api},
                            {"ca_file", ca_file.string()},
                            {"import_policy", p.import_policy},
                            {"max_exports", p.max_exports},
                            {"source_cidrs", bundle->source_cidrs}};
    if (p.max_egress_ports) entry["max_egress_ports"] = *p.max_egress_ports;
    if (!bundle->ingress_cidrs.empty()) entry["ingress_cidrs"] = bundle->ingress_cidrs;
    out.push_back(std::move(entry));
  }
  // The CA files of peers removed (or no longer active) go: the folder holds one file per
  // active peering, whatever was added and removed over the years.
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(ca_dir, ec)) {
    const std::string domain = f.path().stem().string();
    const bool active =
        std::any_of(out.begin(), out.end(), [&](const nlohmann::json& e) { return e["domain"] == domain; });
    if (!active) std::filesystem::remove(f.path(), ec);
  }
  return out;
}

Peerings::Peerings(store::Database& db, const Clock& clock, std::string own_domain,
                   std::function<std::set<std::string>()> configured_peers, ConfigCheck check)
    : db_(db), clock_(clock), own_domain_(std::move(own_domain)), configured_peers_(std::move(configured_peers)),
      check_(std::move(check)) {}

void Peerings::audit_refusal(const workflow::Principal& who, const std::string& action, const std::string& object,
                             const Error& why) {
  nlohmann::json details = {{"error", why.message}};
  for (const auto& f : why.fields) details["fields"][f.field] = f.message;
  const Status st = db_.transaction([&](store::Writer& tx) -> Status {
    MESHFED_RETURN_IF_ERROR(store::AuditRepository(tx).append(clock_.now(), who.name, action, object, details));
    return {};
  });
  if (!st) spdlog::error("audit: cannot record {}: {}", action, st.error().message);
}

Result<store::PeeringRecord> Peerings::propose(const workflow::Principal& who, const Proposal& p) {
  if (!who.can(workflow::Role::kAdmin)) return forbidden(who, "add peers");
  auto refuse = [&](Error why) -> Error {
    const std::string domain = p.bundle.is_object() && p.bundle.contains("domain") && p.bundle["domain"].is_string()
                                   ? p.bundle["domain"].get<std::string>()
                                   : std::string();
    // The domain names the audit object only when it is one (an adversary's text stays out).
    audit_refusal(who, "peer.proposal_refused", is_rfc1035_label(domain) ? "peer/" + domain : "peer", why);
    return why;
  };
  auto bundle = parse_bundle(p.bundle);
  if (!bundle) return refuse(bundle.error());
  if (!fingerprint_matches(*bundle, p.fingerprint)) {
    return refuse(invalid("fingerprint", "does not match the bundle: compare it again with the admin of " +
                                             bundle->domain + ", by another channel than the one the bundle came by"));
  }
  if (p.import_policy != "manual" && p.import_policy != "auto") {
    return refuse(invalid("import_policy", "expected manual or auto"));
  }
  if (p.max_exports < 1 || p.max_exports > 100'000) return refuse(invalid("max_exports", "expected 1..100000"));
  if (p.max_egress_ports && (*p.max_egress_ports < 1 || *p.max_egress_ports > 65'535)) {
    return refuse(invalid("max_egress_ports", "expected 1..65535"));
  }
  if (p.reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    return refuse(invalid("reason", "required: say why this domain should become a peer"));
  }
  if (bundle->domain == own_domain_) return refuse(invalid("bundle.domain", "is this domain's own bundle"));
  if (configured_peers_().count(bundle->domain)) {
    return refuse(make_error(ErrorCode::kAlreadyExists,
                             "peer " + bundle->domain + " is configured in the config file (peers[])",
                             {{"bundle.domain", "already a configured peer"}}));
  }
  store::PeeringRecord r;
  r.domain = bundle->domain;
  r.bundle = canonical_text(*bundle);
  r.import_policy = p.import_policy;
  r.max_exports = p.max_exports;
  r.max_egress_ports = p.max_egress_ports;
  r.reason = p.reason;
  r.proposed_by = who.name;
  r.proposed_ms = to_unix_ms(clock_.now());
  const Status st = db_.transaction([&](store::Writer& tx) -> Status {
    store::PeeringRepository peerings(tx);
    MESHFED_ASSIGN_OR_RETURN(const auto existing, peerings.get(r.domain));
    if (existing) {
      return make_error(ErrorCode::kAlreadyExists,
                        "peer " + r.domain + " is already " + std::string(to_string(existing->state)),
                        {{"bundle.domain", "already " + std::string(to_string(existing->state))}});
    }
    MESHFED_ASSIGN_OR_RETURN(const auto all, peerings.list());
    if (all.size() >= kMaxPeerings) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "at most " + std::to_string(kMaxPeerings) + " peers can be added through the API");
    }
    MESHFED_RETURN_IF_ERROR(peerings.save(r));
    MESHFED_RETURN_IF_ERROR(store::AuditRepository(tx).append(
        clock_.now(), who.name, "peer.proposed", "peer/" + r.domain,
        {{"fingerprint", fingerprint(*bundle)}, {"import_policy", r.import_policy}, {"reason", r.reason}}));
    return {};
  });
  if (!st) return st.error().code == ErrorCode::kUnavailable ? st.error() : refuse(st.error());
  spdlog::info("peer {} proposed by {}", r.domain, who.name);
  return r;
}

Result<store::PeeringRecord> Peerings::propose_bundle(const workflow::Principal& who, const std::string& domain,
                                                      const nlohmann::json& bundle_json,
                                                      const std::string& given_fingerprint, const std::string& reason) {
  if (!who.can(workflow::Role::kAdmin)) return forbidden(who, "change peers");
  auto refuse = [&](Error why) -> Error {
    audit_refusal(who, "peer.bundle_refused", is_rfc1035_label(domain) ? "peer/" + domain : "peer", why);
    return why;
  };
  auto bundle = parse_bundle(bundle_json);
  if (!bundle) return refuse(bundle.error());
  if (!fingerprint_matches(*bundle, given_fingerprint)) {
    return refuse(invalid("fingerprint", "does not match the bundle: compare it again with the admin of " + domain +
                                             ", by another channel than the one the bundle came by"));
  }
  if (bundle->domain != domain) return refuse(invalid("bundle.domain", "is another domain's bundle"));
  if (reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    return refuse(invalid("reason", "required: say why the bundle changes (a CA rollover)"));
  }
  std::optional<store::PeeringRecord> proposed;
  const Status st = db_.transaction([&](store::Writer& tx) -> Status {
    store::PeeringRepository peerings(tx);
    MESHFED_ASSIGN_OR_RETURN(auto r, peerings.get(domain));
    if (!r) return make_error(ErrorCode::kNotFound, "no peer " + domain + " added through the API");
    if (r->state != store::PeeringState::kActive) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "peer " + domain + " is only proposed: remove it and propose the new bundle instead");
    }
    auto current = parse_bundle(nlohmann::json::parse(r->bundle, nullptr, false));
    if (current && current->trust_domain != bundle->trust_domain) {
      return make_error(ErrorCode::kInvalidArgument,
                        "a new bundle keeps the peer's trust domain (its certificates' identities): remove the peer "
                        "and add it again to change it",
                        {{"bundle.trust_domain", "differs from the bundle in force"}});
    }
    r->next_bundle = canonical_text(*bundle);
    r->next_by = who.name;
    r->next_ms = to_unix_ms(clock_.now());
    ++r->version;
    MESHFED_RETURN_IF_ERROR(peerings.save(*r));
    MESHFED_RETURN_IF_ERROR(store::AuditRepository(tx).append(
        clock_.now(), who.name, "peer.bundle_proposed", "peer/" + domain,
        {{"fingerprint", fingerprint(*bundle)}, {"ca_certificates", bundle->ca_pem.size()}, {"reason", reason}}));
    proposed = std::move(r);
    return {};
  });
  if (!st) return st.error().code == ErrorCode::kUnavailable ? st.error() : refuse(st.error());
  spdlog::info("a new bundle of peer {} proposed by {}", domain, who.name);
  return std::move(*proposed);
}

Result<store::PeeringRecord> Peerings::approve(const workflow::Principal& who, const std::string& domain,
                                               const std::string& comment) {
  if (!who.can(workflow::Role::kAdmin)) return forbidden(who, "approve peers");
  std::optional<store::PeeringRecord> approved;
  bool four_eyes = false;
  bool config_refused = false;
  bool rollover = false;  // the new bundle of an active peer
  const Status st = db_.transaction([&](store::Writer& tx) -> Status {
    store::PeeringRepository peerings(tx);
    MESHFED_ASSIGN_OR_RETURN(auto r, peerings.get(domain));
    if (!r) return make_error(ErrorCode::kNotFound, "no peer " + domain + " added through the API");
    rollover = r->state == store::PeeringState::kActive;
    if (rollover && !r->next_bundle) {
      return make_error(ErrorCode::kFailedPrecondition, "peer " + domain +
                                                            " is already active, with no new bundle "
                                                            "to approve");
    }
    const std::string& proposer = rollover ? *r->next_by : r->proposed_by;
    if (proposer == who.name) {
      four_eyes = true;
      return make_error(ErrorCode::kPermissionDenied, "four-eyes rule: " + who.name + " proposed " +
                                                          (rollover ? "the new bundle of " : "") + "peer " + domain +
                                                          " and cannot approve it; another admin must");
    }
    if (rollover) {
      r->bundle = *std::exchange(r->next_bundle, std::nullopt);
      r->next_by.reset();
      r->next_ms.reset();
    } else {
      r->state = store::PeeringState::kActive;
      r->approved_by = who.name;
      r->approved_ms = to_unix_ms(clock_.now());
    }
    ++r->version;
    if (check_) {
      MESHFED_ASSIGN_OR_RETURN(auto after, peerings.list());
      for (auto& other : after) {
        if (other.domain == domain) other = *r;
      }
      if (auto fits = check_(after); !fits) {
        config_refused = true;
        return fits.error();
      }
    }
    MESHFED_RETURN_IF_ERROR(peerings.save(*r));
    nlohmann::json details = {{"comment", comment}};
    if (rollover) details["fingerprint"] = fingerprint_of_canonical(r->bundle);
    MESHFED_RETURN_IF_ERROR(store::AuditRepository(tx).append(
        clock_.now(), who.name, rollover ? "peer.rolled_over" : "peer.approved", "peer/" + domain, details));
    approved = std::move(r);
    return {};
  });
  if (!st) {
    if (four_eyes) {
      audit_refusal(who, "peer.four_eyes_refused", "peer/" + domain, st.error());
    } else if (config_refused) {
      audit_refusal(who, "peer.approval_refused", "peer/" + domain, st.error());
    }
    return st.error();
  }
  spdlog::info("peer {}{} approved by {}", rollover ? "bundle of " : "", domain, who.name);
  if (changed_) changed_();
  return std::move(*approved);
}

Status Peerings::remove(const workflow::Principal& who, const std::string& domain, const std::string& reason) {
  if (!who.can(workflow::Role::kAdmin)) return forbidden(who, "remove peers");
  if (reason.find_first_not_of(" \t\r\n") == std::string::npos) return invalid("reason", "required");
  MESHFED_RETURN_IF_ERROR(db_.transaction([&](store::Writer& tx) -> Status {
    MESHFED_ASSIGN_OR_RETURN(const bool removed, store::PeeringRepository(tx).remove(domain));
    if (!removed) return make_error(ErrorCode::kNotFound, "no peer " + domain + " added through the API");
    MESHFED_RETURN_IF_ERROR(store::AuditRepository(tx).append(clock_.now(), who.name, "peer.removed", "peer/" + domain,
                                                              {{"reason", reason}}));
    return {};
  }));
  spdlog::info("peer {} removed by {}", domain, who.name);
  if (changed_) changed_();
  return {};
}

Result<std::vector<store::PeeringRecord>> Peerings::list() {
  return store::read_value(db_, [](store::Reader& tx) { return store::PeeringQueries(tx).list(); });
}

}  // namespace meshfed::peering
