// What the ingress and egress gateways share: the connections they hold, the splice that moves
// bytes both ways through bounded buffers, timeouts, policy cuts, metrics and the access log.
// Everything here runs on the gateway's event loop.
#pragma once

#include "gateway/http1_filter.hpp"
#include "gateway/stream_sides.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <vector>

#include "meshfed/gateway/gateway.hpp"
#include "meshfed/gateway/proxy_protocol.hpp"
#include "net/loop_threads.hpp"

namespace meshfed::gateway {

using SteadyTime = std::chrono::steady_clock::time_point;

struct Session {
  explicit Session(asio::io_context& io) : client(io), upstream(io) {}
  tcp::socket client;
  tcp::socket upstream;
  SslPtr ssl;          // on `client` at the ingress, on `upstream` at the egress
  std::string remote;  // the client's address
  std::string sni;
  std::string route;  // export id (ingress) or import id (egress); empty until admitted
  std::string peer;
  int64_t expires_at_ms = INT64_MAX;
  SteadyTime started = std::chrono::steady_clock::now();
  SteadyTime last_activity = started;
  std::optional<SteadyTime> phase_deadline;  // handshake or upstream connect
  uint64_t bytes_up = 0;                     // caller to service
  uint64_t bytes_down = 0;                   // service to caller
  uint64_t reported_up = 0;
  uint64_t reported_down = 0;
  bool closed = false;
  std::string result = "ok";
  std::unique_ptr<net::Admission::Ticket> ticket;  // its place among the gateway's connections

  // Ends both sockets now. The descriptors stay valid (shut down, not closed) until the session
  // is destroyed, so OpenSSL never touches a reused descriptor.
  void abort(const std::string& why);
};

class GatewayCore {
 public:
  // Answers whether an admitted session may go on, and until when (Unix ms); nullopt: cut it.
  using RouteCheck = std::function<std::optional<int64_t>(const Session&)>;

  // `admission` is shared by all the cores of one gateway: its limits are the gateway's.
  GatewayCore(asio::io_context& io, GatewayMetrics& metrics, std::string kind, GatewayLimits limits,
              net::Admission& admission);

  asio::io_context& io() { return io_; }
  const GatewayLimits& limits() const { return limits_; }
  const std::string& kind() const { return kind_; }

  // A session for a socket accepted onto this core's loop, or null when admission refused it
  // (counted there). Thread-safe: called by the accept loop, so that connections are admitted
  // in the order they arrived; spawn() then runs it here.
  std::shared_ptr<Session> open(tcp::socket client);
  // The session is authorised for `route`: counted from now on, and never evicted.
  void admit(Session& s, const std::string& route, const std::string& peer, int64_t expires_at_ms);
  void refuse(Session& s, const std::string& reason);
  void handshake_failed(Session& s, const std::string& reason);
  void handshake_done(Session& s, bool resumed);
  // One request of an admitted session refused (L7 rules): counted by export and peer, and one
  // access-log line of its own. A 502 (the service's answer unreadable) is only logged.
  void request_refused(const Session& s, const Refusal& r);
  // Resolves and connects `s.upstream` within the connect timeout.
  asio::awaitable<bool> connect_upstream(std::shared_ptr<Session> s, HostPort to);
  // Moves bytes both ways until both directions are done or the session is aborted.
  template <class ClientSide, class UpstreamSide>
  asio::awaitable<void> splice(std::shared_ptr<Session> s, ClientSide client, UpstreamSide upstream);
  // Runs `session` and then settles the session's accounts. On this core's loop.
  void spawn(std::shared_ptr<Session> s, std::function<asio::awaitable<void>(std::shared_ptr<Session>)> session);

  // Checks every session against the routes now (after a routing-table change).
  void recheck(const RouteCheck& check);
  // Cuts every admitted session `keep` refuses, counted under `reason` (a peer's trust changed).
  void cut_unless(const std::function<bool(const Session&)>& keep, const std::string& reason);
  void start(RouteCheck check);  // the periodic sweep: timeouts, expiry, byte counters
  void stop();

 private:
  template <class From, class To>
  asio::awaitable<void> pump(std::shared_ptr<Session> s, From from, To to, bool upstream_bound, int& open_directions);
  void finish(const std::shared_ptr<Session>& s);
  void schedule_sweep();
  void flush_bytes(Session& s);
  void sweep();

  asio::io_context& io_;
  GatewayMetrics& metrics_;
  std::string kind_;
  GatewayLimits limits_;
  net::Admission& admission_;
  std::set<std::shared_ptr<Session>> sessions_;
  asio::steady_timer sweep_timer_;
  RouteCheck check_;
  bool stopped_ = false;
};

// The event-loop threads of one gateway. Each worker owns the sessions it was handed and
// shares nothing with the others but the connection count, so a session's two directions and
// its OpenSSL object only ever run on one thread. Worker 0 also runs the acceptors.
class WorkerPool {
 public:
  struct Worker {
    asio::io_context& io;
    std::unique_ptr<GatewayCore> core;
  };

  // `threads` 0: one per core. Starts the threads and each worker's sweep with `check`.
  WorkerPool(GatewayMetrics& metrics, const std::string& kind, GatewayLimits limits, GatewayCore::RouteCheck check);
  ~WorkerPool();

  asio::io_context& control() { return workers_.front().io; }
  Worker& next();  // round robin, for a new connection
  // Runs `fn(core)` on every worker's thread.
  void each(const std::function<void(GatewayCore&)>& fn);
  // Ends every session and joins the threads. Idempotent.
  void stop();
  int open_connections() const { return admission_.open(); }

 private:
  net::Admission admission_;
  net::LoopThreads loops_;
  std::vector<Worker> workers_;  // one per loop, touched there
  size_t next_ = 0;
  bool stopped_ = false;
};

template <class From, class To>
asio::awaitable<void> GatewayCore::pump(std::shared_ptr<Session> s, From from, To to, bool upstream_bound,
                                        int& open_directions) {
  std::vector<char> buffer(limits_.buffer_bytes);
  uint64_t& counter = upstream_bound ? s->bytes_up : s->bytes_down;
  // The client's first bytes are held back while they could still be a PROXY header of its
  // own (at most 12 bytes): behind ours, the service would believe the one it forged.
  std::string held;
  bool screened = !upstream_bound;
  error_code ec;
  for (;;) {
    size_t n = co_await from.read_some(asio::buffer(buffer), ec);
    if (s->closed) co_return;
    if (!screened && !ec) {
      held.append(buffer.data(), n);
      const ProxyPrefix prefix = proxy_prefix(held);
      if (prefix == ProxyPrefix::kSignature) {
        refuse(*s, "proxy_header");
        co_return;
      }
      if (prefix == ProxyPrefix::kUndecided) continue;
      screened = true;
      if (held.size() > buffer.size()) buffer.resize(held.size());
      std::copy(held.begin(), held.end(), buffer.begin());
      n = held.size();
    }
    if (!screened && ec == asio::error::eof && !held.empty()) {
      screened = true;  // a stream that ends inside a prefix of a signature carries no header
      error_code write_ec;
      co_await to.write_all(asio::buffer(held), write_ec);
      if (s->closed) co_return;
      if (write_ec) {
        s->abort("upstream error: " + write_ec.message());
        co_return;
      }
      counter += held.size();
    }
    if (ec == asio::error::eof) {
      // Half-close: pass the end of this direction on; the other direction carries on.
      co_await to.shutdown_send(ec);
      break;
    }
    if (ec) {
      s->abort(upstream_bound ? "client error: " + ec.message() : "upstream error: " + ec.message());
      co_return;
    }
    s->last_activity = std::chrono::steady_clock::now();
    co_await to.write_all(asio::buffer(buffer.data(), n), ec);
    if (s->closed) co_return;
    if (ec) {
      s->abort(upstream_bound ? "upstream error: " + ec.message() : "client error: " + ec.message());
      co_return;
    }
    counter += n;
    s->last_activity = std::chrono::steady_clock::now();
  }
  if (--open_directions == 0) s->abort("");  // both directions ended cleanly
}

template <class ClientSide, class UpstreamSide>
asio::awaitable<void> GatewayCore::splice(std::shared_ptr<Session> s, ClientSide client, UpstreamSide upstream) {
  // Two directions on the one loop; the session ends when both have (or on abort).
  int open_directions = 2;
  asio::steady_timer done(io_, SteadyTime::max());
  bool down_finished = false;
  asio::co_spawn(io_, pump(s, upstream, client, false, open_directions), [&](std::exception_ptr) {
    down_finished = true;
    done.cancel();
  });
  co_await pump(s, client, upstream, true, open_directions);
  error_code ec;
  while (!down_finished) co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace meshfed::gateway
