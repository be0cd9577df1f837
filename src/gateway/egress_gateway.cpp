#include "gateway/gateway_core.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "gateway/session_cache.hpp"
#include "meshfed/core/mutex.hpp"
#include "meshfed/core/clock.hpp"
#include "net/open_acceptor.hpp"

namespace meshfed::gateway {
namespace {

using namespace std::chrono_literals;
constexpr auto kRetryListenEvery = 2s;  // a port taken by someone else may come free

// One import's local listener; lives on the control thread.
struct Listener {
  explicit Listener(asio::io_context& io) : acceptor(io) {}
  EgressRoute route;
  tcp::acceptor acceptor;
  std::string last_error;
};

using RoutesById = std::map<std::string, EgressRoute>;

}  // namespace

struct EgressGateway::Impl {
  Impl(GatewayMetrics& metrics, GatewayLimits limits)
      : pool(metrics, "egress", limits, [this](const Session& s) { return still_routed(*routes_now(), s); }),
        retry_timer(pool.control()) {
    asio::post(pool.control(), [this] { schedule_retry(); });
  }
  ~Impl() { stop(); }

  mutable Mutex mu;                                                             // read by every worker
  std::map<std::string, std::shared_ptr<http::TlsContext>> tls GUARDED_BY(mu);  // by peer
  std::shared_ptr<const pki::PeerTrust> servers GUARDED_BY(mu);                 // what `tls` verifies with
  std::shared_ptr<const RoutesById> routes GUARDED_BY(mu) = std::make_shared<RoutesById>();
  std::map<std::string, uint16_t> ports GUARDED_BY(mu);        // bound listeners, for listening()
  std::map<std::string, std::string> refusals GUARDED_BY(mu);  // listeners that could not bind, for unbound()
  EgressGateway::ListenRefused refused;                        // control thread only, set before the first routes
  EgressGateway::Listening opened;                             // likewise
  WorkerPool pool;                                             // after what its sweeps read: destroyed (joined) first
  asio::steady_timer retry_timer;
  std::map<std::string, std::shared_ptr<Listener>> listeners;  // by import id; control thread only
  bool stopped = false;                                        // control thread only

  std::shared_ptr<const RoutesById> routes_now() const {
    MutexLock lock(mu);
    return routes;
  }

  static std::optional<int64_t> still_routed(const RoutesById& routes, const Session& s) {
    const auto it = routes.find(s.route);
    if (it == routes.end() || it->second.peer != s.peer || it->second.sni != s.sni) return std::nullopt;
    return it->second.expires_at_ms;
  }

  void stop() {
    asio::post(pool.control(), [this] {
      stopped = true;
      retry_timer.cancel();
      for (auto& [id, l] : listeners) close(*l);
      listeners.clear();
    });
    pool.stop();
  }

  // On the control thread: listeners follow the table; then every worker rechecks its sessions.
  void apply(const RoutingTable& table) {
    if (stopped) return;
    auto by_id = std::make_shared<RoutesById>();
    std::map<std::string, std::shared_ptr<Listener>> next;
    for (const auto& r : table.egress) {
      (*by_id)[r.import_id] = r;
      auto it = listeners.find(r.import_id);
      if (it != listeners.end() && it->second->route.listen == r.listen) {
        it->second->route = r;  // same socket; new connections take the new details
        next[r.import_id] = it->second;
        listeners.erase(it);
        continue;
      }
      auto l = std::make_shared<Listener>(pool.control());
      l->route = r;
      next[r.import_id] = l;
    }
    for (auto& [id, old] : listeners) close(*old);  // withdrawn or moved
    listeners = std::move(next);
    {
      MutexLock lock(mu);
      routes = by_id;
    }
    open_missing();
    pool.each(
        [by_id](GatewayCore& core) { core.recheck([by_id](const Session& s) { return still_routed(*by_id, s); }); });
  }

  void close(Listener& l) {
    error_code ec;
    l.acceptor.close(ec);
    spdlog::info("egress: closed the listener of import {}", l.route.import_id);
  }

  void open_missing() {
    std::map<std::string, uint16_t> bound;
    std::map<std::string, std::string> failed;
    for (auto& [id, l] : listeners) {
      if (!l->acceptor.is_open()) open(l);
      error_code ec;
      if (l->acceptor.is_open()) {
        bound[id] = l->acceptor.local_endpoint(ec).port();
      } else {
        failed[id] = l->last_error;
      }
    }
    std::map<std::string, uint16_t> fresh;
    {
      MutexLock lock(mu);
      for (const auto& [id, port] : bound) {
        if (auto it = ports.find(id); it == ports.end() || it->second != port) fresh[id] = port;
      }
      ports = std::move(bound);
      refusals = std::move(failed);
    }
    if (opened && !fresh.empty()) opened(fresh);
  }

  void open(const std::shared_ptr<Listener>& l) {
    const auto& r = l->route;
    if (auto ec = net::open_acceptor(l->acceptor, r.listen.host, r.listen.port)) {
      const bool news = ec.message() != l->last_error;
      l->last_error = ec.message();
      if (!news) return;
      spdlog::error("egress: cannot listen on {}:{} for import {}: {}", r.listen.host, r.listen.port, r.import_id,
                    ec.message());
      if (refused) refused(r.import_id, r.listen.port, ec.message());
      return;
    }
    spdlog::info("egress: import {} listening on {}:{} -> {} ingress {}:{}", r.import_id, r.listen.host, r.listen.port,
                 r.peer, r.ingress.host, r.ingress.port);
    asio::co_spawn(pool.control(), accept_loop(l), asio::detached);
  }

  void schedule_retry() {
    retry_timer.expires_after(kRetryListenEvery);
    retry_timer.async_wait([this](const error_code& ec) {
      if (ec || stopped) return;
      open_missing();
      schedule_retry();
    });
  }

  asio::awaitable<void> accept_loop(std::shared_ptr<Listener> l) {
    for (;;) {
      auto& worker = pool.next();
      error_code ec;
      tcp::socket socket = co_await l->acceptor.async_accept(worker.io, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) co_return;
      if (ec) {
        spdlog::warn("egress: accept for import {} failed: {}", l->route.import_id, ec.message());
        continue;
      }
      std::shared_ptr<http::TlsContext> ctx;
      {
        MutexLock lock(mu);
        if (auto it = tls.find(l->route.peer); it != tls.end()) ctx = it->second;
      }
      auto s = worker.core->open(std::move(socket));
      if (!s) continue;
      asio::post(worker.io, [this, core = worker.core.get(), route = l->route, ctx, s] {
        core->spawn(s, [this, core, route, ctx](std::shared_ptr<Session> session) {
          return serve(*core, std::move(session), route, ctx);
        });
      });
    }
  }

  // One local client's connection: mTLS to the peer's ingress, then the proxy.
  asio::awaitable<void> serve(GatewayCore& core, std::shared_ptr<Session> s, EgressRoute route,
                              std::shared_ptr<http::TlsContext> ctx) {
    if (!ctx) co_return core.refuse(*s, "no_certificate_loaded");
    if (route.expires_at_ms <= to_unix_ms(SystemClock().now())) co_return core.refuse(*s, "expired");
    s->sni = route.sni;
    core.admit(*s, route.import_id, route.peer, route.expires_at_ms);
    if (!co_await core.connect_upstream(s, route.ingress)) co_return;
    s->phase_deadline = std::chrono::steady_clock::now() + core.limits().handshake_timeout;
    s->ssl.reset(SSL_new(ctx->native_handle()));
    SSL* ssl = s->ssl.get();
    if (!ssl || !bind_tls(ssl, s->upstream)) co_return s->abort("out of memory for TLS");
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_tlsext_host_name(ssl, route.sni.c_str());
    resume_session(ssl, route.sni + "@" + route.ingress.host + ":" + std::to_string(route.ingress.port));
    TlsSide tls_side(s->upstream, ssl);
    error_code ec;
    std::string reason;
    co_await tls_side.handshake(false, ec, reason);
    if (ec) co_return core.handshake_failed(*s, reason);
    core.handshake_done(*s, SSL_session_reused(ssl) == 1);
    co_await core.splice(s, PlainSide(s->client), tls_side);
  }
};

EgressGateway::EgressGateway(GatewayMetrics& metrics, GatewayLimits limits)
    : impl_(std::make_unique<Impl>(metrics, limits)) {}

EgressGateway::~EgressGateway() = default;

void EgressGateway::set_tls(std::map<std::string, std::shared_ptr<http::TlsContext>> per_peer,
                            std::shared_ptr<const pki::PeerTrust> servers) {
  bool trust_changed = false;
  {
    MutexLock lock(impl_->mu);
    impl_->tls = std::move(per_peer);
    trust_changed = impl_->servers && impl_->servers != servers;
    impl_->servers = servers;
  }
  if (!trust_changed || !servers) return;
  // What the old trust verified and the new one does not (a retired CA, a removed peer) ends,
  // as at the ingress.
  impl_->pool.each([servers](GatewayCore& core) {
    core.cut_unless([&servers](const Session& s) { return servers->peer_of(s.ssl.get()) == s.peer; },
                    "peer_trust_changed");
  });
}

void EgressGateway::set_routes(std::shared_ptr<const RoutingTable> table) {
  asio::post(impl_->pool.control(), [impl = impl_.get(), table = std::move(table)] { impl->apply(*table); });
}

void EgressGateway::stop() { impl_->stop(); }

int EgressGateway::open_connections() const { return impl_->pool.open_connections(); }

std::map<std::string, uint16_t> EgressGateway::listening() const {
  MutexLock lock(impl_->mu);
  return impl_->ports;
}

void EgressGateway::on_listen_refused(ListenRefused listener) {
  asio::post(impl_->pool.control(), [impl = impl_.get(), listener = std::move(listener)] { impl->refused = listener; });
}

void EgressGateway::on_listening(Listening listener) {
  asio::post(impl_->pool.control(), [impl = impl_.get(), listener = std::move(listener)] { impl->opened = listener; });
}

std::map<std::string, std::string> EgressGateway::unbound() const {
  MutexLock lock(impl_->mu);
  return impl_->refusals;
}

}  // namespace meshfed::gateway
