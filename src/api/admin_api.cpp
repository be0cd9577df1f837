#include "meshfed/api/admin_api.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>
#include <set>

#include "core/json_reader.hpp"
#include "meshfed/api/long_poll.hpp"
#include "meshfed/api/problem.hpp"
#include "meshfed/console/assets.hpp"
#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::api {

extern const std::string_view kOpenApiDocument;

namespace {

using nlohmann::json;
using workflow::Role;

http::Response json_response(const json& body, int status = 200) {
  http::Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

std::optional<std::string> ms_text(const std::optional<int64_t>& ms) {
  if (!ms) return std::nullopt;
  return format_rfc3339(from_unix_ms(*ms));
}

json nullable(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

// A JSON request body: the right content type, an object, only known fields.
struct Body {
  json value = json::object();
  std::optional<Error> error;
};

Body parse_body(const http::Request& req, const std::set<std::string>& known, bool allow_empty) {
  Body b;
  if (req.body.empty() && allow_empty) return b;
  const std::string ct = req.header("content-type").value_or("");
  if (ct.substr(0, ct.find(';')) != "application/json") {
    b.error =
        make_error(ErrorCode::kUnsupportedMediaType, "expected Content-Type: application/json, got \"" + ct + "\"");
    return b;
  }
  // The server already capped the body's bytes; depth, duplicates and trailing bytes are ours.
  auto parsed = parse_strict_json(req.body, {req.body.size(), 16}, "body");
  if (!parsed) {
    b.error = make_error(ErrorCode::kInvalidArgument, parsed.error().message, {{"(body)", parsed.error().message}});
    return b;
  }
  b.value = std::move(parsed).value();
  if (!b.value.is_object()) {
    b.error = make_error(ErrorCode::kInvalidArgument, "body must be a JSON object", {{"(body)", "expected an object"}});
    return b;
  }
  std::vector<FieldError> unknown;
  for (const auto& [k, v] : b.value.items()) {
    if (!known.count(k)) unknown.push_back({k, "unknown field"});
  }
  if (!unknown.empty()) {
    b.error = make_error(ErrorCode::kInvalidArgument, "body has unknown fields", std::move(unknown));
  }
  return b;
}

// A body's fields: parse_body has refused unknown ones already; null stands for "not given".
struct Fields {
  explicit Fields(const json& body)
      : reader(body, "", errors, {.unknown_keys_are_errors = false, .null_is_absent = true}) {}
  std::string string(const std::string& key) { return reader.string(key, false).value_or(""); }
  std::optional<int64_t> integer(const std::string& key) {
    return reader.integer(key, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  }
  bool boolean(const std::string& key) { return reader.boolean(key).value_or(false); }
  std::vector<std::string> strings(const std::string& key) {
    return reader.strings(key).value_or(std::vector<std::string>{});
  }
  std::vector<FieldError> take_errors() { return errors.take(); }

  FieldErrors errors;
  ObjectReader reader;
};

std::optional<Error> parse_limit(const http::Request& req, int& limit) {
  limit = 100;
  if (auto l = req.query_param("limit")) {
    auto n = parse_int(*l);
    if (!n || *n < 1 || *n > 1000) {
      return make_error(ErrorCode::kInvalidArgument, "bad limit",
                        {{"limit", "expected an integer 1-1000, got \"" + *l + "\""}});
    }
    limit = static_cast<int>(*n);
  }
  return std::nullopt;
}

// If-Match: "<version>" (or * for any).
std::optional<Error> parse_if_match(const http::Request& req, std::optional<int64_t>& version) {
  auto h = req.header("if-match");
  if (!h || *h == "*") return std::nullopt;
  std::string v = *h;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  auto n = parse_int(v);
  if (!n) {
    return make_error(ErrorCode::kInvalidArgument, "bad If-Match header",
                      {{"If-Match", "expected an ETag such as \"3\", got " + *h}});
  }
  version = *n;
  return std::nullopt;
}

json history_json(const store::HistoryEntry& h) {
  return {{"time", format_rfc3339(from_unix_ms(h.time_ms))},
          {"actor", h.actor},
          {"action", h.action},
          {"from", h.from ? json(std::string(to_string(*h.from))) : json(nullptr)},
          {"to", std::string(to_string(h.to))},
          {"comment", h.comment},
          {"audit_seq", h.audit_seq}};
}

}  // namespace

AdminApi::AdminApi(AdminApiDeps deps)
    : deps_(std::move(deps)), requests_(deps_.metrics.counter("meshfed_api_requests_total",
                                                              "Admin API requests by route, method and status code.",
                                                              {"route", "method", "code"})),
      latency_(deps_.metrics.histogram("meshfed_api_request_duration_seconds",
                                       "Admin API request handling time, by route.", {"route"},
                                       {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})),
      auth_failures_(deps_.metrics.counter("meshfed_auth_failures_total",
                                           "Requests refused for missing or bad credentials or roles, or slowed "
                                           "(429) after repeated failures, by listener and reason.",
                                           {"listener", "reason"})),
      auth_budget_(deps_.clock ? *deps_.clock : wall_clock()) {
  routes();
}

void AdminApi::routes() {
  auto open = [this](std::string method, std::string pattern, std::function<http::Response(const http::Request&)> fn,
                     Runs runs = Runs::kOnStore) {
    router_.add(
        std::move(method), std::move(pattern), [fn](const http::Request& r, const Params&) { return fn(r); }, runs);
  };
  // Routes that need a principal: `role` is checked before the handler runs.
  auto guarded = [this](
                     std::string method, std::string pattern, std::optional<Role> role,
                     std::function<http::Response(const http::Request&, const workflow::Principal&, const Params&)> fn,
                     Runs runs = Runs::kOnStore) {
    router_.add(
        std::move(method), std::move(pattern),
        [this, role, fn](const http::Request& r, const Params& p) {
          auto a = authenticate(r, role);
          if (a.refusal) return *a.refusal;
          return fn(r, *a.principal, p);
        },
        runs);
  };

  open("GET", "/healthz", [](const http::Request&) { return json_response({{"status", "ok"}}); });
  open("GET", "/readyz", [this](const http::Request&) { return readyz(); });
  open("GET", "/metrics", [this](const http::Request&) {
    http::Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = deps_.metrics.expose();
    return r;
  });
  open(
      "GET", "/federate",
      [this](const http::Request& r) {
        std::vector<std::string> match;
        for (auto [it, end] = r.query.equal_range("match[]"); it != end; ++it) match.push_back(it->second);
        auto text = deps_.federation.federate(match);
        if (!text) return problem(text.error());
        http::Response res;
        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
        res.body = std::move(text).value();
        return res;
      },
      Runs::kOffStore);  // formats up to a hundred thousand series: no SQLite work waits on it
  open("GET", "/api/v1/openapi.json", [](const http::Request&) {
    http::Response r;
    r.body = std::string(kOpenApiDocument);
    return r;
  });
  guarded("GET", "/api/v1/services", Role::kViewer,
          [this](const http::Request& r, const workflow::Principal&, const Params&) { return list_services(r); });
  guarded(
      "POST", "/api/v1/exports", Role::kRequester,
      [this](const http::Request& r, const workflow::Principal& who, const Params&) { return create_export(r, who); });
  // Answers that only read go through the workflow's read pool: no write waits behind them.
  guarded(
      "GET", "/api/v1/exports", Role::kViewer,
      [this](const http::Request& r, const workflow::Principal&, const Params&) { return list_exports(r); },
      Runs::kOffStore);
  guarded(
      "GET", "/api/v1/exports/{id}", Role::kViewer,
      [this](const http::Request&, const workflow::Principal&, const Params& p) { return get_export(p.at("id")); },
      Runs::kOffStore);
  for (const auto action : workflow::kExportActions) {
    // The workflow decides who may do what to which export; any principal may ask.
    guarded("POST", "/api/v1/exports/{id}/" + std::string(workflow::to_string(action)), std::nullopt,
            [this, action](const http::Request& r, const workflow::Principal& who, const Params& p) {
              return decide(r, who, p.at("id"), action);
            });
  }
  guarded("POST", "/api/v1/exports/{id}/l7", std::nullopt,
          [this](const http::Request& r, const workflow::Principal& who, const Params& p) {
            return propose_l7(r, who, p.at("id"));
          });
  guarded("GET", "/api/v1/imports", Role::kViewer,
          [this](const http::Request& r, const workflow::Principal&, const Params&) { return list_imports(r); });
  guarded("GET", "/api/v1/imports/{id}", Role::kViewer,
          [this](const http::Request&, const workflow::Principal&, const Params& p) { return get_import(p.at("id")); });
  using ImportDecision = federation::ImportManager::Decision;
  // Plain pairs, not structured bindings: clang before 16 cannot capture those in a lambda.
  for (const auto& route : {std::pair{"accept", ImportDecision::kAccept}, {"reject", ImportDecision::kReject}}) {
    const ImportDecision decision = route.second;
    guarded("POST", std::string("/api/v1/imports/{id}/") + route.first, Role::kApprover,
            [this, decision](const http::Request& r, const workflow::Principal& who, const Params& p) {
              return decide_import(r, who, p.at("id"), decision);
            });
  }
  guarded("GET", "/api/v1/peers", Role::kViewer,
          [this](const http::Request&, const workflow::Principal&, const Params&) { return list_peers(); });
  guarded(
      "POST", "/api/v1/peers", Role::kAdmin,
      [this](const http::Request& r, const workflow::Principal& who, const Params&) { return propose_peer(r, who); });
  guarded("POST", "/api/v1/peers/{domain}/approve", Role::kAdmin,
          [this](const http::Request& r, const workflow::Principal& who, const Params& p) {
            return approve_peer(r, who, p.at("domain"));
          });
  guarded("PUT", "/api/v1/peers/{domain}/bundle", Role::kAdmin,
          [this](const http::Request& r, const workflow::Principal& who, const Params& p) {
            return propose_bundle(r, who, p.at("domain"));
          });
  guarded("DELETE", "/api/v1/peers/{domain}", Role::kAdmin,
          [this](const http::Request& r, const workflow::Principal& who, const Params& p) {
            return remove_peer(r, who, p.at("domain"));
          });
  using PeerAction = federation::ImportManager::PeerAction;
  for (const auto& route : {std::pair{"quarantine", PeerAction::kQuarantine}, {"release", PeerAction::kRelease}}) {
    const PeerAction action = route.second;
    guarded("POST", std::string("/api/v1/peers/{domain}/") + route.first, Role::kAdmin,
            [this, action](const http::Request& r, const workflow::Principal& who, const Params& p) {
              return peer_action(r, who, p.at("domain"), action);
            });
  }
  guarded(
      "GET", "/api/v1/peering/bundle", Role::kViewer,
      [this](const http::Request&, const workflow::Principal&, const Params&) { return peering_bundle(); },
      Runs::kOffStore);  // reads the CA file
  guarded("GET", "/api/v1/replicas", Role::kViewer,
          [this](const http::Request&, const workflow::Principal&, const Params&) { return list_replicas(); });
  guarded(
      "GET", "/api/v1/firewall", Role::kViewer,
      [this](const http::Request& r, const workflow::Principal&, const Params&) { return firewall(r); },
      Runs::kOffStore);  // resolves host names (and reads the store through its executor)
  guarded("GET", "/api/v1/routes", Role::kGateway,
          [this](const http::Request& r, const workflow::Principal&, const Params&) { return watch_routes(r); });
  guarded("POST", "/api/v1/routes/egress-refusals", Role::kGateway,
          [this](const http::Request& r, const workflow::Principal&, const Params&) { return egress_refused(r); });
  guarded("POST", "/api/v1/routes/egress-listening", Role::kGateway,
          [this](const http::Request& r, const workflow::Principal&, const Params&) { return egress_listening(r); });
  guarded("POST", "/api/v1/routes/l7-denials", Role::kGateway,
          [this](const http::Request& r, const workflow::Principal&, const Params&) { return l7_denials_reported(r); });
  guarded(
      "GET", "/api/v1/audit", Role::kViewer,
      [this](const http::Request& r, const workflow::Principal&, const Params&) { return list_audit(r); },
      Runs::kOffStore);
  guarded(
      "GET", "/api/v1/audit/head", Role::kViewer,
      [this](const http::Request&, const workflow::Principal&, const Params&) { return audit_head(); },
      Runs::kOffStore);
  guarded("GET", "/api/v1/audit/verify", Role::kViewer,
          [this](const http::Request& r, const workflow::Principal&, const Params&) { return audit_verify(r); });
  guarded("GET", "/api/v1/audit/witnesses", Role::kViewer,
          [this](const http::Request&, const workflow::Principal&, const Params&) { return audit_witnesses(); });
  // Any valid token may ask who it is: the console offers only what the answer's roles allow.
  guarded("GET", "/api/v1/whoami", std::nullopt,
          [this](const http::Request&, const workflow::Principal& who, const Params&) { return whoami(who); });
}

namespace {

// The method as a metric label: a closed set, so that no stranger's made-up method becomes a
// series of its own (a label value never comes from an unauthenticated client).
std::string method_label(const std::string& method) {
  static const std::set<std::string> kKnown = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  return kKnown.count(method) ? method : "other";
}

}  // namespace

Runs AdminApi::runs_on(const std::string& method, const std::string& path) const {
  return console::owns(path) ? Runs::kOffStore : router_.runs_on(method, path);  // the console's files need no store
}

http::Response AdminApi::handle(const http::Request& req) {
  const auto start = std::chrono::steady_clock::now();
  auto m = router_.match(req.method, req.path);
  http::Response res;
  std::string route = "(unmatched)";
  const bool console_file = console::owns(req.path);
  if (console_file) {
    route = "/ui/";
    res = serve_console(req);
  } else if (m.route) {
    route = m.route->pattern;
    res = m.route->handler(req, m.params);
  } else if (m.path_known) {
    res = problem(405, "method " + req.method + " is not allowed on " + req.path);
  } else if (req.path.rfind("/api/", 0) == 0 && req.path.rfind("/api/v1/", 0) != 0) {
    res = problem(404, "unknown API version in " + req.path + "; supported: v1 (/api/v1/)");
  } else {
    res = problem(404, "no such resource: " + req.path);
  }
  // Answers carry tokens' views of the domain: no browser or proxy may keep them.
  if (!console_file) res.headers.emplace_back("Cache-Control", "no-store");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  requests_.inc({route, method_label(req.method), std::to_string(res.status)});
  latency_.observe({route}, secs);
  return res;
}

http::Response AdminApi::serve_console(const http::Request& req) {
  http::Response res;
  if (req.method != "GET") {
    res = problem(405, "method " + req.method + " is not allowed on " + req.path);
  } else if (req.path == "/ui") {
    res.status = 308;
    res.content_type = "text/plain; charset=utf-8";
    res.headers.emplace_back("Location", "/ui/");
  } else if (const auto* asset = console::find(req.path)) {
    res = console::respond(*asset, req);
  } else {
    res = problem(404, "no such console page: " + req.path);
  }
  console::add_security_headers(res);
  return res;
}

AdminApi::Authn AdminApi::authenticate(const http::Request& req, std::optional<Role> role) {
  Authn a;
  const std::string source = address_of(req.remote);
  auto refuse = [&](const std::string& reason, http::Response r) {
    auth_failures_.inc({"admin", reason});
    {
      MutexLock lock(auth_mu_);
      ++pending_auth_failures_[reason];
    }
    // A wrong or missing credential costs the source; a role it lacks does not (it is who it
    // says it is). Lines are paced per source, with the count, so a guesser cannot flood the log.
    const bool unauthenticated = r.status == 401;
    if (const auto count = unauthenticated ? auth_budget_.failed(source) : std::optional<int64_t>(1)) {
      spdlog::warn("admin api: {} {} from {} refused: {}{}", escape_for_log(req.method), escape_for_log(req.path),
                   req.remote, escape_for_log(reason),
                   *count > 1 ? fmt::format(" ({} failures from this address since the last line)", *count) : "");
    }
    a.refusal = std::move(r);
    return std::move(a);
  };
  // A source that used up its failures is not heard until it may try again: its credentials
  // are not even looked at, so guessing through the 429s learns nothing.
  if (const auto wait = auth_budget_.retry_after(source); wait.count() > 0) {
    auth_failures_.inc({"admin", "throttled"});
    auto r = problem(
        429, "too many failed authentications from " + source + "; retry in " + std::to_string(wait.count()) + " s");
    r.headers.emplace_back("Retry-After", std::to_string(wait.count()));
    a.refusal = std::move(r);
    return a;
  }
  const std::string auth = req.header("authorization").value_or("");
  if (auth.rfind("Bearer ", 0) != 0 || auth.size() <= 7) {
    return refuse("missing_token",
                  problem(make_error(ErrorCode::kUnauthenticated, "send Authorization: Bearer <token>")));
  }
  auto tokens = deps_.credentials.tokens();
  auto principal = tokens ? tokens->authenticate(auth.substr(7)) : std::nullopt;
  if (!principal) {
    return refuse("bad_token", problem(make_error(ErrorCode::kUnauthenticated, "the bearer token is not valid")));
  }
  if (role && !principal->can(*role)) {
    return refuse("missing_role",
                  problem(make_error(ErrorCode::kPermissionDenied,
                                     principal->name + " lacks the " + std::string(workflow::to_string(*role)) +
                                         " role needed for " + req.method + " " + req.path)));
  }
  a.principal = std::move(principal);
  return a;
}

std::map<std::string, int64_t> AdminApi::take_auth_failures() {
  MutexLock lock(auth_mu_);
  return std::exchange(pending_auth_failures_, {});
}

http::Response AdminApi::list_services(const http::Request&) {
  const auto inv = deps_.control_plane.inventory();
  json items = json::array();
  for (const auto& s : inv->services) {
    json ports = json::array();
    for (const auto& p : s.ports) ports.push_back({{"port", p.port}, {"protocol", p.protocol}});
    items.push_back({{"mesh", s.mesh},
                     {"name", s.name},
                     {"zone", s.zone},
                     {"address", s.address},
                     {"ports", ports},
                     {"labels", s.labels}});
  }
  return json_response({{"items", items}, {"next", nullptr}});
}

http::Response AdminApi::export_response(const store::ExportRecord& e, int status) {
  json history = json::array();
  for (const auto& h : e.history) history.push_back(history_json(h));
  json body = {{"id", e.id},
               {"mesh", e.mesh},
               {"service", e.service},
               {"port", e.port},
               {"protocol", e.protocol},
               {"zone", e.zone},
               {"alias", e.alias},
               {"peers", e.peers},
               {"metrics", e.metrics},
               {"proxy_protocol", e.proxy_protocol},
               {"l7", e.l7 ? json::parse(*e.l7, nullptr, false) : json(nullptr)},
               {"l7_change", e.l7_change ? json{{"l7", json::parse(*e.l7_change, nullptr, false)},
                                                {"proposed_by", e.l7_change_by.value_or("")}}
                                         : json(nullptr)},
               {"sni", e.sni},
               {"state", std::string(to_string(e.state))},
               {"target_missing", deps_.workflow.target_missing(e)},
               {"version", e.version},
               {"requested_by", e.requested_by},
               {"requested_at", format_rfc3339(from_unix_ms(e.requested_at_ms))},
               {"reason", e.reason},
               {"ttl_s", e.ttl_s},
               {"pending_expires_at", format_rfc3339(from_unix_ms(e.pending_expires_at_ms))},
               {"decided_by", nullable(e.decided_by)},
               {"approved_at", nullable(ms_text(e.approved_at_ms))},
               {"expires_at", nullable(ms_text(e.expires_at_ms))},
               {"history", history}};
  auto r = json_response(body, status);
  r.headers.emplace_back("ETag", "\"" + std::to_string(e.version) + "\"");
  if (status == 201) r.headers.emplace_back("Location", "/api/v1/exports/" + e.id);
  return r;
}

namespace {

// The `l7` of a request body: the rules, or each of their problems added to `f`'s errors.
std::optional<policy::L7Rules> l7_field(const json& value, Fields& f) {
  auto rules = policy::parse_l7(value);
  if (rules) return std::move(rules).value();
  for (const auto& e : rules.error().fields) f.errors.add(e.field, e.message);
  return std::nullopt;
}

}  // namespace

http::Response AdminApi::create_export(const http::Request& req, const workflow::Principal& who) {
  auto body = parse_body(
      req, {"mesh", "service", "port", "zone", "peers", "alias", "metrics", "ttl_s", "proxy_protocol", "l7", "reason"},
      false);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  workflow::ExportRequest r;
  r.mesh = f.string("mesh");
  r.service = f.string("service");
  r.port = f.integer("port").value_or(0);
  r.zone = f.string("zone");
  r.peers = f.strings("peers");
  r.alias = f.string("alias");
  r.metrics = f.strings("metrics");
  r.ttl_s = f.integer("ttl_s");
  r.proxy_protocol = f.boolean("proxy_protocol");
  r.reason = f.string("reason");
  if (const auto it = body.value.find("l7"); it != body.value.end() && !it->is_null()) r.l7 = l7_field(*it, f);
  if (!f.errors.empty())
    return problem(make_error(ErrorCode::kInvalidArgument, "the export request is invalid", f.take_errors()));
  auto e = deps_.workflow.request(who, r);
  if (!e) return problem(e.error());
  return export_response(*e, 201);
}

http::Response AdminApi::list_exports(const http::Request& req) {
  int limit = 0;
  if (auto err = parse_limit(req, limit)) return problem(*err);
  std::optional<store::ExportState> state;
  if (auto s = req.query_param("state")) {
    state = store::parse_export_state(*s);
    if (!state) {
      return problem(make_error(
          ErrorCode::kInvalidArgument, "bad state filter",
          {{"state", "expected pending, approved, rejected, cancelled, revoked or expired, got \"" + *s + "\""}}));
    }
  }
  auto page = deps_.workflow.list(state, req.query_param("after").value_or(""), limit);
  if (!page) return problem(page.error());
  json items = json::array();
  for (const auto& e : page->items) items.push_back(json::parse(export_response(e).body));
  return json_response({{"items", items}, {"next", nullable(page->next)}});
}

http::Response AdminApi::get_export(const std::string& id) {
  auto e = deps_.workflow.get(id);
  if (!e) return problem(e.error());
  return export_response(*e);
}

http::Response AdminApi::decide(const http::Request& req, const workflow::Principal& who, const std::string& id,
                                workflow::ExportAction action) {
  const std::set<std::string> known = action == workflow::ExportAction::kExtend
                                          ? std::set<std::string>{"comment", "ttl_s"}
                                          : std::set<std::string>{"comment"};
  auto body = parse_body(req, known, true);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  workflow::Decision d;
  d.comment = f.string("comment");
  d.ttl_s = f.integer("ttl_s");
  if (!f.errors.empty())
    return problem(make_error(ErrorCode::kInvalidArgument, "the decision is invalid", f.take_errors()));
  if (auto err = parse_if_match(req, d.if_match)) return problem(*err);
  auto e = deps_.workflow.decide(who, id, d, action);
  if (!e) return problem(e.error());
  return export_response(*e);
}

http::Response AdminApi::propose_l7(const http::Request& req, const workflow::Principal& who, const std::string& id) {
  auto body = parse_body(req, {"l7", "comment"}, false);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  workflow::Decision d;
  d.comment = f.string("comment");
  std::optional<policy::L7Rules> rules;
  if (const auto it = body.value.find("l7"); it != body.value.end()) {
    rules = l7_field(*it, f);
  } else {
    f.errors.add("l7", "required: the rules that would replace the export's");
  }
  if (!f.errors.empty())
    return problem(make_error(ErrorCode::kInvalidArgument, "the proposed L7 rules are invalid", f.take_errors()));
  if (auto err = parse_if_match(req, d.if_match)) return problem(*err);
  auto e = deps_.workflow.propose_l7(who, id, *rules, d);
  if (!e) return problem(e.error());
  return export_response(*e);
}

http::Response AdminApi::list_imports(const http::Request& req) {
  int limit = 0;
  if (auto err = parse_limit(req, limit)) return problem(*err);
  auto page = deps_.imports.list(req.query_param("after").value_or(""), limit);
  if (!page) return problem(page.error());
  json items = json::array();
  for (const auto& r : page->first) items.push_back(federation::import_json(r, deps_.imports.settings().egress_host));
  return json_response({{"items", items}, {"next", nullable(page->second)}});
}

http::Response AdminApi::get_import(const std::string& id) {
  auto r = deps_.imports.get(id);
  if (!r) return problem(r.error());
  auto steps = deps_.imports.history(id);
  if (!steps) return problem(steps.error());
  json body = federation::import_json(*r, deps_.imports.settings().egress_host);
  body["history"] = json::array();
  for (const auto& h : *steps) {
    body["history"].push_back({{"time", format_rfc3339(from_unix_ms(h.time_ms))},
                               {"actor", h.actor},
                               {"from", h.from ? json(*h.from) : json(nullptr)},
                               {"to", h.to},
                               {"reason", h.reason},
                               {"audit_seq", h.audit_seq}});
  }
  auto res = json_response(body);
  res.headers.emplace_back("ETag", "\"" + std::to_string(r->version) + "\"");
  return res;
}

http::Response AdminApi::decide_import(const http::Request& req, const workflow::Principal& who, const std::string& id,
                                       federation::ImportManager::Decision decision) {
  auto body = parse_body(req, {"comment"}, true);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  const auto comment = f.string("comment");
  if (!f.errors.empty())
    return problem(make_error(ErrorCode::kInvalidArgument, "the decision is invalid", f.take_errors()));
  std::optional<int64_t> if_match;
  if (auto err = parse_if_match(req, if_match)) return problem(*err);
  auto r = deps_.imports.decide(who, id, if_match, decision, comment);
  if (!r) return problem(r.error());
  auto res = json_response(federation::import_json(*r, deps_.imports.settings().egress_host));
  res.headers.emplace_back("ETag", "\"" + std::to_string(r->version) + "\"");
  return res;
}

namespace {

// A check of the witnesses this recent answers ?witnesses=true without asking again; one is
// never longer than the peers' timeout.
constexpr auto kWitnessCheckFresh = std::chrono::seconds(10);
constexpr int64_t kLongestWitnessWait = 60;

json peer_json(const peering::PeerEntry& e) {
  json item = {{"domain", e.domain}, {"source", e.source}, {"state", e.state}};
  if (e.status) {
    const auto& rec = e.status->record;
    item.update({{"trust_domain", e.status->trust_domain},
                 {"last_success", nullable(ms_text(rec.last_success_ms))},
                 {"last_error", rec.last_error.empty() ? json(nullptr) : json(rec.last_error)},
                 {"last_error_at", nullable(ms_text(rec.last_error_ms))},
                 {"revision", rec.revision},
                 {"imports", e.status->imports}});
    if (rec.quarantined_since_ms) {
      item["quarantined"] = {{"since", format_rfc3339(from_unix_ms(*rec.quarantined_since_ms))},
                             {"by", rec.quarantined_by},
                             {"reason", rec.quarantine_reason}};
    }
  }
  if (e.peering) {
    const auto& p = *e.peering;
    item["peering"] = {{"fingerprint", peering::fingerprint_of_canonical(p.bundle)},
                       {"bundle", json::parse(p.bundle, nullptr, false)},
                       {"import_policy", p.import_policy},
                       {"max_exports", p.max_exports},
                       {"max_egress_ports", p.max_egress_ports ? json(*p.max_egress_ports) : json(nullptr)},
                       {"reason", p.reason},
                       {"proposed_by", p.proposed_by},
                       {"proposed_at", format_rfc3339(from_unix_ms(p.proposed_ms))},
                       {"approved_by", nullable(p.approved_by)},
                       {"approved_at", nullable(ms_text(p.approved_ms))},
                       {"version", p.version}};
    if (p.next_bundle) {
      item["peering"]["next_bundle"] = {{"fingerprint", peering::fingerprint_of_canonical(*p.next_bundle)},
                                        {"bundle", json::parse(*p.next_bundle, nullptr, false)},
                                        {"proposed_by", nullable(p.next_by)},
                                        {"proposed_at", nullable(ms_text(p.next_ms))}};
    }
  }
  return item;
}

// The answer of the peering routes on a broker built without them (tests, tools).
http::Response no_peerings() {
  return problem(make_error(ErrorCode::kUnavailable, "this broker adds no peers through the API"));
}

}  // namespace

Result<std::vector<peering::PeerEntry>> AdminApi::peers() {
  MESHFED_ASSIGN_OR_RETURN(auto in_force, deps_.imports.peers());
  std::vector<store::PeeringRecord> peerings;
  if (deps_.peerings) {
    MESHFED_ASSIGN_OR_RETURN(peerings, deps_.peerings->list());
  }
  return peering::peer_list(in_force, peerings);
}

http::Response AdminApi::list_peers() {
  auto entries = peers();
  if (!entries) return problem(entries.error());
  json items = json::array();
  for (const auto& e : *entries) {
    items.push_back(peer_json(e));
    if (deps_.witnesses) items.back()["witness"] = deps_.witnesses->witnessed_of(e.domain);
  }
  return json_response({{"items", items}, {"next", nullptr}});
}

http::Response AdminApi::propose_peer(const http::Request& req, const workflow::Principal& who) {
  if (!deps_.peerings) return no_peerings();
  auto body =
      parse_body(req, {"bundle", "fingerprint", "import_policy", "max_exports", "max_egress_ports", "reason"}, false);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  peering::Proposal p;
  p.bundle = body.value.value("bundle", json());  // parse_bundle() says what is wrong with it
  p.fingerprint = f.string("fingerprint");
  if (const auto policy = f.string("import_policy"); !policy.empty()) p.import_policy = policy;
  if (const auto n = f.integer("max_exports")) p.max_exports = *n;
  p.max_egress_ports = f.integer("max_egress_ports");
  p.reason = f.string("reason");
  if (!f.errors.empty())
    return problem(make_error(ErrorCode::kInvalidArgument, "the peer proposal is invalid", f.take_errors()));
  auto r = deps_.peerings->propose(who, p);
  if (!r) return problem(r.error());
  auto res = json_response(peer_json({r->domain, "api", std::string(peering::kProposed), std::nullopt, *r}), 201);
  res.headers.emplace_back("Location", "/api/v1/peers/" + r->domain);
  return res;
}

http::Response AdminApi::approve_peer(const http::Request& req, const workflow::Principal& who,
                                      const std::string& domain) {
  if (!deps_.peerings) return no_peerings();
  auto body = parse_body(req, {"comment"}, true);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  const std::string comment = f.string("comment");
  if (!f.errors.empty())
    return problem(make_error(ErrorCode::kInvalidArgument, "the approval is invalid", f.take_errors()));
  auto r = deps_.peerings->approve(who, domain, comment);
  if (!r) return problem(r.error());
  return peer_response(domain, *r);
}

// The peer as GET /api/v1/peers lists it now; `changed` stands in if the list cannot be read.
http::Response AdminApi::peer_response(const std::string& domain, const store::PeeringRecord& changed) {
  if (auto entries = peers(); entries) {
    for (const auto& e : *entries) {
      if (e.domain == domain) return json_response(peer_json(e));
    }
  }
  return json_response(peer_json({domain, "api", std::string(peering::kWaitingForThePeer), std::nullopt, changed}));
}

http::Response AdminApi::propose_bundle(const http::Request& req, const workflow::Principal& who,
                                        const std::string& domain) {
  if (!deps_.peerings) return no_peerings();
  auto body = parse_body(req, {"bundle", "fingerprint", "reason"}, false);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  const std::string fingerprint = f.string("fingerprint");
  const std::string reason = f.string("reason");
  if (!f.errors.empty())
    return problem(make_error(ErrorCode::kInvalidArgument, "the new bundle is invalid", f.take_errors()));
  auto r = deps_.peerings->propose_bundle(who, domain, body.value.value("bundle", json()), fingerprint, reason);
  if (!r) return problem(r.error());
  return peer_response(domain, *r);
}

http::Response AdminApi::remove_peer(const http::Request& req, const workflow::Principal& who,
                                     const std::string& domain) {
  if (!deps_.peerings) return no_peerings();
  auto body = parse_body(req, {"reason"}, false);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  const std::string reason = f.string("reason");
  if (!f.errors.empty())
    return problem(make_error(ErrorCode::kInvalidArgument, "the removal is invalid", f.take_errors()));
  if (auto entries = peers(); entries) {
    for (const auto& e : *entries) {
      if (e.domain == domain && e.source == "config") {
        return problem(make_error(ErrorCode::kFailedPrecondition, "peer " + domain +
                                                                      " comes from the config file (peers[]): remove "
                                                                      "it there and reload; the API removes only the "
                                                                      "peers it added"));
      }
    }
  }
  if (auto st = deps_.peerings->remove(who, domain, reason); !st) return problem(st.error());
  return json_response({{"domain", domain}, {"removed", true}});
}

http::Response AdminApi::peer_action(const http::Request& req, const workflow::Principal& who,
                                     const std::string& domain, federation::ImportManager::PeerAction action) {
  auto body = parse_body(req, {"reason"}, false);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  const std::string reason = f.string("reason");
  if (!f.errors.empty()) return problem(make_error(ErrorCode::kInvalidArgument, "bad request", f.take_errors()));
  if (reason.empty()) return problem(make_error(ErrorCode::kInvalidArgument, "say why", {{"reason", "required"}}));
  auto st = deps_.imports.act_on_peer(who, domain, reason, action);
  if (!st) return problem(st.error());
  if (deps_.peers) deps_.peers->peer_changed(domain);
  const auto peers = deps_.imports.peers();
  for (const auto& p : peers ? *peers : std::vector<federation::PeerStatus>{}) {
    if (p.record.domain == domain)
      return json_response({{"domain", domain}, {"state", std::string(federation::to_string(p.state))}});
  }
  return json_response({{"domain", domain}});
}

// A separate egress process could not listen on an import's port: the import moves or fails
// exactly as with an egress inside the broker.
http::Response AdminApi::egress_refused(const http::Request& req) {
  auto body = parse_body(req, {"import_id", "port", "error"}, false);
  if (body.error) return problem(*body.error);
  Fields f(body.value);
  const std::string id = f.string("import_id");
  const auto port = f.integer("port");
  const std::string error = f.string("error");
  if (id.empty()) f.errors.add("import_id", "required");
  if (!port || *port < 1 || *port > 65535) f.errors.add("port", "expected a port 1-65535");
  if (error.size() > 512) f.errors.add("error", "at most 512 characters");
  if (!f.errors.empty()) return problem(make_error(ErrorCode::kInvalidArgument, "bad refusal", f.take_errors()));
  if (auto st = deps_.imports.egress_port_refused(id, static_cast<int>(*port), error); !st) return problem(st.error());
  return json_response({{"import_id", id}, {"port", *port}});
}

// A separate egress process listens on these ports now: the imports waiting for it are
// published to the control plane.
http::Response AdminApi::egress_listening(const http::Request& req) {
  constexpr size_t kMostPerReport = 1000;  // the gateway sends larger sets in parts
  auto body = parse_body(req, {"listening"}, false);
  if (body.error) return problem(*body.error);
  const json& listening = body.value.is_object() ? body.value.value("listening", json()) : json();
  std::vector<FieldError> errors;
  std::map<std::string, int> held;
  if (!listening.is_object() || listening.size() > kMostPerReport) {
    errors.push_back({"listening", "expected an object of at most 1000 import ids, each with its port"});
  } else {
    for (const auto& [id, port] : listening.items()) {
      if (id.empty() || id.size() > 256 || !port.is_number_integer() || port.get<int64_t>() < 1 ||
          port.get<int64_t>() > 65535) {
        errors.push_back({"listening", "expected import ids of at most 256 characters, each with a port 1-65535"});
        break;
      }
      held[id] = port.get<int>();
    }
  }
  if (!errors.empty()) return problem(make_error(ErrorCode::kInvalidArgument, "bad report", std::move(errors)));
  if (auto st = deps_.imports.egress_listening(held); !st) return problem(st.error());
  return json_response({{"confirmed", held.size()}});
}

// A separate ingress's denial totals: counted as the broker's own ingress counts them, so that
// each peer receives its series with its exports' metrics. Only series of routes in force
// count: the labels of a report never name another peer's export or a made-up one.
http::Response AdminApi::l7_denials_reported(const http::Request& req) {
  auto body = parse_body(req, {"instance", "denials"}, false);
  if (body.error) return problem(*body.error);
  if (!deps_.routes || !deps_.gateway_reports) {
    return problem(make_error(ErrorCode::kUnavailable, "routes are not available"));
  }
  const json& b = body.value;
  const json instance = b.is_object() ? b.value("instance", json()) : json();
  const json denials = b.is_object() ? b.value("denials", json()) : json();
  std::vector<FieldError> errors;
  if (!instance.is_string() || instance.get<std::string>().empty() || instance.get<std::string>().size() > 64) {
    errors.push_back({"instance", "expected the reporting process's id, 1-64 characters"});
  }
  std::vector<metrics::ReportedTotal> totals;
  if (!denials.is_array() || denials.size() > gateway::kMostL7SeriesPerReport) {
    errors.push_back({"denials", "expected an array of at most " + std::to_string(gateway::kMostL7SeriesPerReport) +
                                     " {export, peer, total}"});
  } else {
    for (const auto& d : denials) {
      const json e = d.is_object() ? d.value("export", json()) : json();
      const json p = d.is_object() ? d.value("peer", json()) : json();
      const json t = d.is_object() ? d.value("total", json()) : json();
      if (!e.is_string() || !p.is_string() || !t.is_number_unsigned() || t.get<uint64_t>() > (1ULL << 53)) {
        errors.push_back({"denials", "expected {export, peer, total} with a total 0-2^53"});
        break;
      }
      totals.push_back({{e.get<std::string>(), p.get<std::string>()}, static_cast<double>(t.get<uint64_t>())});
    }
  }
  if (!errors.empty()) return problem(make_error(ErrorCode::kInvalidArgument, "bad report", std::move(errors)));
  const auto table = deps_.routes->routes();
  std::set<std::pair<std::string, std::string>> in_force;
  for (const auto& r : table->ingress) in_force.emplace(r.export_id, r.peer);
  const auto ignored = std::erase_if(totals, [&](const metrics::ReportedTotal& t) {
    return !in_force.contains({t.labels[0], t.labels[1]});
  });
  deps_.gateway_reports->take(instance.get<std::string>(), totals);
  return json_response({{"counted", totals.size()}, {"ignored", ignored}});
}

http::Response AdminApi::watch_routes(const http::Request& req) {
  auto poll = parse_long_poll(req);
  if (!poll) return problem(poll.error());
  if (!deps_.routes) return problem(make_error(ErrorCode::kUnavailable, "routes are not available"));
  if (req.query_param("role") == std::optional<std::string>("egress")) deps_.imports.egress_process_seen();
  const auto table = deps_.routes->routes();
  if (poll->since == table->revision && poll->wait_s > 0) return wait_on(kRoutesWaitKey, poll->wait_s);
  return json_response(gateway::to_json(*table));
}

http::Response AdminApi::firewall(const http::Request& req) {
  const std::string format = req.query_param("format").value_or("json");
  const auto mode = firewall::parse_mode(req.query_param("mode").value_or("host"));
  if (format != "json" && format != "nftables") {
    return problem(make_error(ErrorCode::kInvalidArgument, "bad format",
                              {{"format", "expected json or nftables, got \"" + format + "\""}}));
  }
  if (!mode) return problem(make_error(ErrorCode::kInvalidArgument, "bad mode", {{"mode", "expected host or router"}}));
  if (!deps_.firewall) {
    return problem(make_error(ErrorCode::kUnavailable, "firewall flows are not available"));
  }
  auto flows = deps_.firewall->firewall_flows(*mode);
  if (!flows) return problem(flows.error());
  if (format == "json") return json_response(firewall::to_json(*flows, *mode));
  auto text = firewall::to_nftables(*flows, *mode);
  if (!text) return problem(text.error());
  http::Response r;
  r.content_type = "text/plain; charset=utf-8";
  r.body = *text;
  return r;
}

http::Response AdminApi::list_audit(const http::Request& req) {
  int limit = 0;
  if (auto err = parse_limit(req, limit)) return problem(*err);
  int64_t after = 0;
  for (const char* key : {"since", "after"}) {
    if (auto s = req.query_param(key)) {
      auto n = parse_int(*s);
      if (!n || *n < 0) {
        return problem(make_error(ErrorCode::kInvalidArgument, std::string("bad ") + key,
                                  {{key, "expected a sequence number, got \"" + *s + "\""}}));
      }
      after = std::max(after, *n);
    }
  }
  auto page = deps_.workflow.audit_page(after, limit);
  if (!page) return problem(page.error());
  json items = json::array();
  for (const auto& e : page->first) items.push_back(audit::to_json(e));
  return json_response({{"items", items}, {"next", nullable(page->second)}});
}

http::Response AdminApi::audit_head() {
  auto head = deps_.workflow.audit_head();
  if (!head) return problem(head.error());
  return json_response({{"seq", head->first}, {"hash", head->second}});
}

http::Response AdminApi::audit_verify(const http::Request& req) {
  const auto witnesses = req.query_param("witnesses").value_or("false");
  if (witnesses != "true" && witnesses != "false") {
    return problem(make_error(ErrorCode::kInvalidArgument, "bad witnesses",
                              {{"witnesses", "expected true or false, got \"" + witnesses + "\""}}));
  }
  std::optional<json> witnessed;
  if (witnesses == "true") {
    if (!deps_.witnesses) return problem(make_error(ErrorCode::kUnavailable, "this broker asks no witnesses"));
    // The peers are asked off this thread; the request waits for the check, which ends within
    // its timeout whatever the peers do.
    witnessed = deps_.witnesses->checked_within(kWitnessCheckFresh);
    if (!witnessed) return wait_on(kWitnessWaitKey, kLongestWitnessWait);
  }
  auto verified = deps_.workflow.verify_audit();
  if (!verified) return problem(verified.error());
  const workflow::AuditReport& r = verified->report;
  json out = {{"ok", r.ok},
              {"entries", r.entries},
              {"head", {{"seq", r.head_seq}, {"hash", r.head_hash}}},
              {"problem", r.ok ? json(nullptr) : json(r.problem)},
              {"checked_at", format_rfc3339(verified->checked_at)}};
  if (witnessed) {
    out["witnesses"] = *witnessed;
    if (witnessed->value("outcome", "") != "ok") out["ok"] = false;
  }
  return json_response(out);
}

http::Response AdminApi::audit_witnesses() {
  if (!deps_.witnesses) return problem(make_error(ErrorCode::kUnavailable, "this broker asks no witnesses"));
  return json_response(deps_.witnesses->last_check());
}

http::Response AdminApi::whoami(const workflow::Principal& who) {
  json roles = json::array();
  for (const auto role : who.effective_roles()) roles.push_back(std::string(workflow::to_string(role)));
  return json_response({{"name", who.name}, {"roles", roles}, {"domain", deps_.workflow.settings().domain}});
}

http::Response AdminApi::peering_bundle() {
  if (!deps_.bundle) return problem(make_error(ErrorCode::kUnavailable, "this broker makes no peering bundle"));
  auto bundle = deps_.bundle->bundle();
  if (!bundle) return problem(bundle.error());
  return json_response({{"bundle", peering::to_json(*bundle)}, {"fingerprint", peering::fingerprint(*bundle)}});
}

http::Response AdminApi::list_replicas() {
  auto replicas = deps_.replicas.replicas();
  if (!replicas) return problem(replicas.error());
  json items = json::array();
  for (const auto& r : *replicas) {
    items.push_back({{"id", r.id},
                     {"address", r.address},
                     {"role", r.leader ? "leader" : "follower"},
                     {"last_heartbeat", format_rfc3339(from_unix_ms(r.last_heartbeat_ms))}});
  }
  return json_response({{"items", items}, {"next", nullptr}});
}

http::Response AdminApi::readyz() {
  const Readiness r = deps_.health.readiness();
  return json_response({{"status", r.ready ? "ready" : "not ready"}, {"checks", r.checks}}, r.ready ? 200 : 503);
}

}  // namespace meshfed::api
