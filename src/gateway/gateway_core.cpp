#include "gateway/gateway_core.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "meshfed/core/clock.hpp"
#include "meshfed/core/log_fields.hpp"

namespace meshfed::gateway {
namespace {

using namespace std::chrono_literals;
constexpr auto kSweepEvery = 200ms;  // policy cuts land "within a second"

double seconds_since(SteadyTime t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

GatewayMetrics::GatewayMetrics(metrics::Registry& r)
    : active(r.gauge("meshfed_gateway_connections_active", "Open admitted connections by gateway, route and peer.",
                     {"gateway", "route", "peer"})),
      total(r.counter("meshfed_gateway_connections_total", "Admitted connections by gateway, route and peer.",
                      {"gateway", "route", "peer"})),
      bytes(r.counter("meshfed_gateway_bytes_total",
                      "Bytes proxied by gateway, route, peer and direction (upstream: caller to service).",
                      {"gateway", "route", "peer", "direction"})),
      handshakes(r.counter("meshfed_gateway_handshakes_total",
                           "Completed TLS handshakes by gateway and whether the session was resumed.",
                           {"gateway", "resumed"})),
      handshake_failures(r.counter("meshfed_gateway_handshake_failures_total",
                                   "Failed TLS handshakes by gateway and reason.", {"gateway", "reason"})),
      refusals(r.counter("meshfed_gateway_refusals_total",
                         "Connections refused before admission (authorisation, limits) by gateway and reason.",
                         {"gateway", "reason"})),
      cut(r.counter("meshfed_gateway_connections_cut_total",
                    "Admitted connections ended by policy (route withdrawn, expired, idle, peer trust changed) by "
                    "gateway and reason.",
                    {"gateway", "reason"})),
      upstream_failures(r.counter("meshfed_gateway_upstream_connect_failures_total",
                                  "Failed connections to the upstream by gateway and route.", {"gateway", "route"})),
      duration(r.histogram("meshfed_gateway_connection_duration_seconds", "Admitted connections' duration.",
                           {"gateway", "route"}, {0.01, 0.1, 1, 10, 60, 600, 3600, 86400})),
      l7_denied(r.counter(std::string(policy::kL7DeniedMetric),
                          "Requests the ingress refused under an export's L7 rules (403) or as unreadable (400), by "
                          "export and calling peer.",
                          {"export", "peer"})) {}

void Session::abort(const std::string& why) {
  if (closed) return;
  closed = true;
  if (!why.empty() && result == "ok") result = why;
  error_code ec;
  for (auto* sock : {&client, &upstream}) {
    if (!sock->is_open()) continue;
    sock->shutdown(tcp::socket::shutdown_both, ec);
    sock->cancel(ec);
  }
}

void GatewayMetrics::admitted(const std::string& gateway, const std::string& route, const std::string& peer) {
  total.inc({gateway, route, peer});
  active.add({gateway, route, peer}, 1);
}

void GatewayMetrics::ended(const std::string& gateway, const std::string& route, const std::string& peer,
                           double seconds) {
  active.add({gateway, route, peer}, -1);
  duration.observe({gateway, route}, seconds);
}

GatewayCore::GatewayCore(asio::io_context& io, GatewayMetrics& metrics, std::string kind, GatewayLimits limits,
                         net::Admission& admission)
    : io_(io), metrics_(metrics), kind_(std::move(kind)), limits_(limits), admission_(admission), sweep_timer_(io) {}

std::shared_ptr<Session> GatewayCore::open(tcp::socket client) {
  error_code ec;
  const auto ep = client.remote_endpoint(ec);
  if (ec) return nullptr;  // already gone
  auto s = std::make_shared<Session>(io_);
  s->remote = ep.address().to_string() + ":" + std::to_string(ep.port());
  // Only a session not yet admitted to a route makes room; one admitted meanwhile stays.
  s->ticket = admission_.admit(ep.address().to_string(), [&io = io_, weak = std::weak_ptr<Session>(s)] {
    asio::post(io, [weak] {
      const auto victim = weak.lock();
      if (!victim || victim->closed) return;
      if (victim->route.empty()) {
        victim->abort("evicted: at capacity");
      } else {
        victim->ticket->spared();
      }
    });
  });
  if (!s->ticket) return nullptr;
  s->ticket->advance(net::Admission::Stage::kHandshake);
  client.set_option(tcp::no_delay(true), ec);
  client.native_non_blocking(true, ec);  // OpenSSL may do I/O on it directly
  s->client = std::move(client);
  s->phase_deadline = s->started + limits_.handshake_timeout;
  return s;
}

void GatewayCore::admit(Session& s, const std::string& route, const std::string& peer, int64_t expires_at_ms) {
  s.route = route;
  s.peer = peer;
  s.expires_at_ms = expires_at_ms;
  s.ticket->set_busy(true);
  metrics_.admitted(kind_, route, peer);
}

void GatewayCore::refuse(Session& s, const std::string& reason) {
  metrics_.refusals.inc({kind_, reason});
  s.abort("refused: " + reason);
}

void GatewayCore::handshake_done(Session& s, bool resumed) {
  s.phase_deadline.reset();
  s.last_activity = std::chrono::steady_clock::now();
  metrics_.handshakes.inc({kind_, resumed ? "true" : "false"});
}

void GatewayCore::request_refused(const Session& s, const Refusal& r) {
  if (r.status != 502) metrics_.l7_denied.inc({s.route, s.peer});
  const LogFields fields({{"gateway", kind_},
                          {"peer", s.peer},
                          {"route", s.route},
                          {"remote", s.remote},
                          {"method", r.method},
                          {"path", r.path},
                          {"status", int64_t{r.status}},
                          {"result", "refused: " + r.reason}});
  spdlog::info("access: gateway={} peer={} route={} remote={} method={} path=\"{}\" status={} result=\"refused: {}\"",
               kind_, s.peer, s.route, s.remote, r.method, r.path, r.status, r.reason);
}

void GatewayCore::handshake_failed(Session& s, const std::string& reason) {
  metrics_.handshake_failures.inc({kind_, reason});
  s.abort("handshake failed: " + reason);
}

asio::awaitable<bool> GatewayCore::connect_upstream(std::shared_ptr<Session> s, HostPort to) {
  s->phase_deadline = std::chrono::steady_clock::now() + limits_.connect_timeout;
  tcp::resolver resolver(io_);
  error_code ec;
  auto endpoints =
      co_await resolver.async_resolve(to.host, std::to_string(to.port), asio::redirect_error(asio::use_awaitable, ec));
  if (!ec && !s->closed) {
    co_await asio::async_connect(s->upstream, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (s->closed || ec) {
    metrics_.upstream_failures.inc({kind_, s->route});
    s->abort("upstream " + to.host + ":" + std::to_string(to.port) +
             " unreachable: " + (ec ? ec.message() : std::string("connect timeout")));
    co_return false;
  }
  s->upstream.set_option(tcp::no_delay(true), ec);
  s->upstream.native_non_blocking(true, ec);
  s->phase_deadline.reset();
  s->last_activity = std::chrono::steady_clock::now();
  co_return true;
}

void GatewayCore::spawn(std::shared_ptr<Session> s,
                        std::function<asio::awaitable<void>(std::shared_ptr<Session>)> session) {
  if (stopped_) return;  // the ticket goes with the session
  sessions_.insert(s);
  asio::co_spawn(io_, session(s), [this, s](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        s->abort(std::string("internal error: ") + ex.what());
      }
    }
    s->abort("");
    finish(s);
  });
}

void GatewayCore::flush_bytes(Session& s) {
  if (s.route.empty()) return;
  if (s.bytes_up != s.reported_up)
    metrics_.bytes.inc({kind_, s.route, s.peer, "upstream"}, double(s.bytes_up - s.reported_up));
  if (s.bytes_down != s.reported_down) {
    metrics_.bytes.inc({kind_, s.route, s.peer, "downstream"}, double(s.bytes_down - s.reported_down));
  }
  s.reported_up = s.bytes_up;
  s.reported_down = s.bytes_down;
}

void GatewayCore::finish(const std::shared_ptr<Session>& session) {
  Session& s = *session;
  const double duration = seconds_since(s.started);
  if (!s.route.empty()) {
    flush_bytes(s);
    metrics_.ended(kind_, s.route, s.peer, duration);
  }
  // The access log: one line per connection, admitted or not.
  const auto duration_ms = static_cast<int64_t>(duration * 1000);
  const LogFields fields({{"gateway", kind_},
                          {"peer", s.peer},
                          {"route", s.route},
                          {"remote", s.remote},
                          {"bytes_up", static_cast<int64_t>(s.bytes_up)},
                          {"bytes_down", static_cast<int64_t>(s.bytes_down)},
                          {"duration_ms", duration_ms},
                          {"result", s.result}});
  spdlog::info("access: gateway={} peer={} route={} remote={} bytes_up={} bytes_down={} duration_ms={} result=\"{}\"",
               kind_, s.peer.empty() ? "-" : s.peer, s.route.empty() ? "-" : s.route, s.remote, s.bytes_up,
               s.bytes_down, duration_ms, s.result);
  sessions_.erase(session);
  s.ticket.reset();
}

void GatewayCore::recheck(const RouteCheck& check) {
  const int64_t now_ms = to_unix_ms(SystemClock().now());
  for (const auto& s : sessions_) {
    if (s->closed || s->route.empty()) continue;
    const auto until = check(*s);
    if (!until) {
      metrics_.cut.inc({kind_, "route_withdrawn"});
      s->abort("cut: route withdrawn");
      continue;
    }
    s->expires_at_ms = *until;
    if (s->expires_at_ms <= now_ms) {
      metrics_.cut.inc({kind_, "expired"});
      s->abort("cut: expired");
    }
  }
}

void GatewayCore::cut_unless(const std::function<bool(const Session&)>& keep, const std::string& reason) {
  for (const auto& s : sessions_) {
    if (s->closed || s->route.empty() || keep(*s)) continue;
    metrics_.cut.inc({kind_, reason});
    s->abort("cut: " + reason);
  }
}

void GatewayCore::sweep() {
  const auto now = std::chrono::steady_clock::now();
  for (const auto& s : sessions_) {
    if (s->closed) continue;
    flush_bytes(*s);
    if (s->phase_deadline && now >= *s->phase_deadline) {
      s->abort("timeout before admission");  // the handshake or connect sees the abort and counts it
    } else if (!s->route.empty() && now - s->last_activity >= limits_.idle_timeout) {
      metrics_.cut.inc({kind_, "idle"});
      s->abort("cut: idle");
    }
  }
  if (check_) recheck(check_);
}

void GatewayCore::start(RouteCheck check) {
  check_ = std::move(check);
  schedule_sweep();
}

void GatewayCore::schedule_sweep() {
  sweep_timer_.expires_after(kSweepEvery);
  sweep_timer_.async_wait([this](const error_code& ec) {
    if (ec || stopped_) return;
    sweep();
    schedule_sweep();
  });
}

void GatewayCore::stop() {
  stopped_ = true;
  sweep_timer_.cancel();
  for (const auto& s : sessions_) s->abort("gateway stopping");
}

WorkerPool::WorkerPool(GatewayMetrics& metrics, const std::string& kind, GatewayLimits limits,
                       GatewayCore::RouteCheck check)
    : admission_(kind, limits.admission), loops_(limits.threads) {
  admission_.count_refusals_in(metrics.refusals);
  for (size_t i = 0; i < loops_.size(); ++i) {
    auto& io = loops_.at(i);
    workers_.push_back({io, std::make_unique<GatewayCore>(io, metrics, kind, limits, admission_)});
    asio::post(io, [core = workers_.back().core.get(), check] { core->start(check); });
  }
}

WorkerPool::~WorkerPool() { stop(); }

WorkerPool::Worker& WorkerPool::next() {
  Worker& w = workers_[next_];
  next_ = (next_ + 1) % workers_.size();
  return w;
}

void WorkerPool::each(const std::function<void(GatewayCore&)>& fn) {
  for (auto& w : workers_) asio::post(w.io, [core = w.core.get(), fn] { fn(*core); });
}

void WorkerPool::stop() {
  if (stopped_) return;
  stopped_ = true;
  each([](GatewayCore& core) { core.stop(); });
  loops_.finish();  // each loop ends once its sessions have wound down
}

}  // namespace meshfed::gateway
