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

http::Response PeerApi::handle(const http::Request& req) {
  http::Response res;
  std::string path = "(unmatched)";
  auto refuse = [&](const std::string& reason, const std::string& detail) {
    refused_.inc({req.peer, reason});
    spdlog::warn("peer api: {} {} from {} ({}) refused: {}", escape_for_log(req.method), escape_for_log(req.path),
                 req.peer, req.remote, escape_for_log(detail));
    return problem(403, detail);
  };
  if (req.peer.empty() || !deps_.is_configured_peer(req.peer)) {
    res = refuse("unknown_peer", "the caller is not a configured peer");
  } else if (const auto quarantined = deps_.is_quarantined(req.peer); !quarantined) {
    refused_.inc({req.peer, "undecided"});
    res = problem(503, quarantined.error().message + "; refusing until it can be read");
  } else if (*quarantined) {
    res = refuse("quarantined", "peer " + req.peer + " is quarantined by " + deps_.domain());
  } else if (req.path == "/federation/v1/catalog") {
    path = req.path;
    res = req.method == "GET" ? catalog(req) : problem(405, "use GET on " + req.path);
  } else if (req.path == "/federation/v1/metrics") {
    path = req.path;
    if (req.method != "GET") {
      res = problem(405, "use GET on " + req.path);
    } else {
      res.content_type = "text/plain; version=0.0.4; charset=utf-8";
      res.body = deps_.exported_metrics(req.peer);
    }
  } else if (req.path.rfind("/federation/", 0) == 0 && req.path.rfind("/federation/v1/", 0) != 0) {
    res = problem(404, "unsupported peer API version in " + req.path + "; supported versions: v1");
  } else {
    res = problem(404, "no such peer API resource: " + req.path + " (supported versions: v1)");
  }
  if (!res.waiting()) requests_.inc({req.peer, path, std::to_string(res.status)});
  return res;
}

http::Response PeerApi::catalog(const http::Request& req) {
  auto poll = parse_long_poll(req);
  if (!poll) return problem(poll.error());
  if (poll->since <= 0) {  // everything: the same bytes until the catalog moves
    auto body = deps_.catalog.full_answer(req.peer, deps_.domain(), deps_.ingress());
    if (!body) return problem(body.error());
    http::Response r;
    r.body = std::move(body).value();
    return r;
  }
  auto view = deps_.catalog.view(req.peer, poll->since);
  if (!view) return problem(view.error());
  if (view->unchanged() && poll->wait_s > 0) return wait_on(req.peer, poll->wait_s);
  http::Response r;
  r.body = federation::catalog_text(*view, deps_.domain(), deps_.ingress());
  return r;
}

}  // namespace meshfed::api
