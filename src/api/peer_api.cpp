#include "meshfed/api/peer_api.hpp"

#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include "meshfed/api/long_poll.hpp"
#include "meshfed/api/problem.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::api {
PeerApi::PeerApi(PeerApiDeps deps)
    : deps_(std::move(deps)),
      requests_(deps_.metrics.counter("meshfed_peer_api_requests_total",
                                      "Peer API requests by peer, path and status code.", {"peer", "path", "code"})),
      refused_(deps_.metrics.counter("meshfed_peer_api_refused_total", "Peer API requests refused, by peer and reason.",
                                     {"peer", "reason"})) {}

http::Response PeerApi::handle(const http::Request& req) { return *respond(req, /*quick_only=*/false); }

std::optional<http::Response> PeerApi::answer_quickly(const http::Request& req) {
  return respond(req, /*quick_only=*/true);
}

std::optional<http::Response> PeerApi::respond(const http::Request& req, bool quick_only) {
  std::optional<http::Response> res;
  std::string path = "(unmatched)";
  auto refuse = [&](const std::string& reason, const std::string& detail) {
    refused_.inc({req.peer, reason});
    spdlog::warn("peer api: {} {} from {} ({}) refused: {}", escape_for_log(req.method), escape_for_log(req.path),
                 req.peer, req.remote, escape_for_log(detail));
    return problem(403, detail);
  };
  std::optional<Result<federation::PeerGlance>> glance;
  if (!req.peer.empty() && deps_.is_configured_peer(req.peer)) glance = deps_.catalog.glance(req.peer);
  if (!glance) {
    res = refuse("unknown_peer", "the caller is not a configured peer");
  } else if (!*glance) {
    refused_.inc({req.peer, "undecided"});
    res = problem(503, glance->error().message + "; refusing until it can be read");
  } else if ((*glance)->quarantined) {
    res = refuse("quarantined", "peer " + req.peer + " is quarantined by " + deps_.domain());
  } else if (req.path == "/federation/v1/catalog") {
    path = req.path;
    res = req.method == "GET" ? catalog(req, **glance, quick_only) : problem(405, "use GET on " + req.path);
    if (!res) return std::nullopt;  // to be built off the connection's loop
  } else if (req.path == "/federation/v1/witness") {
    path = req.path;
    if (req.method != "GET") {
      res = problem(405, "use GET on " + req.path);
    } else if (quick_only) {
      return std::nullopt;  // a read of the store: off the connection's loop
    } else if (auto answer = deps_.witnessed(req.peer); !answer) {
      res = problem(answer.error());
    } else {
      res.emplace();
      res->body = std::move(answer).value();
    }
  } else if (req.path == "/federation/v1/metrics") {
    path = req.path;
    if (req.method != "GET") {
      res = problem(405, "use GET on " + req.path);
    } else {
      res.emplace();
      res->content_type = "text/plain; version=0.0.4; charset=utf-8";
      res->body = deps_.exported_metrics(req.peer);
    }
  } else if (req.path.rfind("/federation/", 0) == 0 && req.path.rfind("/federation/v1/", 0) != 0) {
    res = problem(404, "unsupported peer API version in " + req.path + "; supported versions: v1");
  } else {
    res = problem(404, "no such peer API resource: " + req.path + " (supported versions: v1)");
  }
  if (!res->waiting()) requests_.inc({req.peer, path, std::to_string(res->status)});
  return res;
}

std::vector<std::pair<std::string, std::string>> PeerApi::not_modified_headers(const http::Request& req) {
  if (req.path != "/federation/v1/catalog") return {};
  auto glance = deps_.catalog.glance(req.peer);
  if (!glance) return {};  // unsigned, the peer only goes unwitnessed this once
  return {{audit::kAuditHeadHeader, deps_.audit_head.signed_json(glance->audit_head)}};
}

std::optional<http::Response> PeerApi::catalog(const http::Request& req, const federation::PeerGlance& glance,
                                               bool quick_only) {
  auto poll = parse_long_poll(req);
  if (!poll) return problem(poll.error());
  const int64_t revision = glance.revision;
  const std::string head = deps_.audit_head.signed_json(glance.audit_head);
  auto answer = [&](std::string body) {
    http::Response r;
    r.body = federation::with_audit_head(std::move(body), head);
    return r;
  };
  if (poll->since <= 0) {  // everything: the same bytes until the catalog moves
    if (quick_only) {
      auto kept = deps_.catalog.kept_answer(req.peer, revision, deps_.domain(), deps_.ingress());
      if (!kept) return std::nullopt;
      return answer(std::move(*kept));
    }
    auto body = deps_.catalog.full_answer(req.peer, deps_.domain(), deps_.ingress());
    if (!body) return problem(body.error());
    return answer(std::move(body).value());
  }
  federation::CatalogView view;
  if (quick_only) {  // a peer that is up to date waits, or learns that nothing changed
    if (revision != poll->since) return std::nullopt;
    view.revision = revision;
    view.full = false;
  } else {
    auto built = deps_.catalog.view(req.peer, poll->since);
    if (!built) return problem(built.error());
    view = std::move(built).value();
  }
  if (view.unchanged() && poll->wait_s > 0) return wait_on(req.peer, poll->wait_s);  // 304: not_modified_headers
  return answer(federation::catalog_text(view, deps_.domain(), deps_.ingress()));
}

}  // namespace meshfed::api
