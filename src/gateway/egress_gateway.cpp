#include "gateway/gateway_core.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "gateway/session_cache.hpp"
#include "meshfed/core/clock.hpp"

namespace meshfed::gateway {
namespace {

using namespace std::chrono_literals;
constexpr auto kRetryListenEvery = 2s;  // a port taken by someone else may come free

// One import's local listener.
struct Listener {
  explicit Listener(asio::io_context& io) : acceptor(io) {}
  EgressRoute route;
  tcp::acceptor acceptor;
  std::string last_error;
};

}  // namespace

struct EgressGateway::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, GatewayMetrics& metrics, GatewayLimits limits)
      : core(io, metrics, "egress", limits), retry_timer(io) {}

  GatewayCore core;
  asio::steady_timer retry_timer;
  std::map<std::string, std::shared_ptr<http::TlsContext>> tls;  // by peer
  std::map<std::string, std::shared_ptr<Listener>> listeners;    // by import id
  bool started = false;
  bool stopped = false;
  mutable std::mutex ports_mu;
  std::map<std::string, uint16_t> ports;  // for listening(), read from other threads

  std::optional<int64_t> still_routed(const Session& s) const {
    const auto it = listeners.find(s.route);
    if (it == listeners.end()) return std::nullopt;
    const auto& r = it->second->route;
    if (r.peer != s.peer || r.sni != s.sni) return std::nullopt;  // now leads elsewhere
    return r.expires_at_ms;
  }

  void apply(const RoutingTable& table) {
    std::map<std::string, std::shared_ptr<Listener>> next;
    for (const auto& r : table.egress) {
      auto it = listeners.find(r.import_id);
      if (it != listeners.end() && it->second->route.listen == r.listen) {
        it->second->route = r;  // same socket; new connections take the new details
        next[r.import_id] = it->second;
        listeners.erase(it);
        continue;
      }
      auto l = std::make_shared<Listener>(core.io());
      l->route = r;
      next[r.import_id] = l;
    }
    for (auto& [id, old] : listeners) close(*old);  // withdrawn or moved
    listeners = std::move(next);
    open_missing();
    core.recheck([this](const Session& s) { return still_routed(s); });
  }

  void close(Listener& l) {
    error_code ec;
    l.acceptor.close(ec);
    spdlog::info("egress: closed the listener of import {}", l.route.import_id);
  }

  void open_missing() {
    std::map<std::string, uint16_t> bound;
    for (auto& [id, l] : listeners) {
      if (!l->acceptor.is_open()) open(l);
      error_code ec;
      if (l->acceptor.is_open()) bound[id] = l->acceptor.local_endpoint(ec).port();
    }
    std::lock_guard lock(ports_mu);
    ports = std::move(bound);
  }

  void open(const std::shared_ptr<Listener>& l) {
    error_code ec;
    const auto addr = asio::ip::make_address(l->route.listen.host, ec);
    const tcp::endpoint ep(addr, l->route.listen.port);
    if (!ec) l->acceptor.open(ep.protocol(), ec);
    if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error_code ignored;
      l->acceptor.close(ignored);
      if (ec.message() != l->last_error) {
        spdlog::error("egress: cannot listen on {}:{} for import {}: {} (retrying)", l->route.listen.host,
                      l->route.listen.port, l->route.import_id, ec.message());
      }
      l->last_error = ec.message();
      return;
    }
    spdlog::info("egress: import {} listening on {}:{} -> {} ingress {}:{}", l->route.import_id, l->route.listen.host,
                 l->route.listen.port, l->route.peer, l->route.ingress.host, l->route.ingress.port);
    asio::co_spawn(core.io(), accept_loop(l), asio::detached);
  }

  void schedule_retry() {
    retry_timer.expires_after(kRetryListenEvery);
    retry_timer.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->stopped) return;
      self->open_missing();
      self->schedule_retry();
    });
  }

  asio::awaitable<void> accept_loop(std::shared_ptr<Listener> l) {
    auto self = shared_from_this();
    for (;;) {
      error_code ec;
      tcp::socket socket = co_await l->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) co_return;
      if (ec) {
        spdlog::warn("egress: accept for import {} failed: {}", l->route.import_id, ec.message());
        continue;
      }
      auto s = core.open(std::move(socket));
      if (!s) continue;
      const auto it = tls.find(l->route.peer);
      auto ctx = it == tls.end() ? nullptr : it->second;
      core.spawn(s, [self, route = l->route, ctx](std::shared_ptr<Session> session) {
        return self->serve(std::move(session), route, ctx);
      });
    }
  }

  // One local client's connection: mTLS to the peer's ingress, then the proxy.
  asio::awaitable<void> serve(std::shared_ptr<Session> s, EgressRoute route, std::shared_ptr<http::TlsContext> ctx) {
    if (!ctx) co_return core.refuse(*s, "no_certificate_loaded");
    if (route.expires_at_ms <= to_unix_ms(SystemClock().now())) co_return core.refuse(*s, "expired");
    s->sni = route.sni;
    core.admit(*s, route.import_id, route.peer, route.expires_at_ms);
    if (!co_await core.connect_upstream(s, route.ingress)) co_return;
    s->phase_deadline = std::chrono::steady_clock::now() + core.limits().handshake_timeout;
    s->ssl.reset(SSL_new(ctx->native_handle()));
    SSL* ssl = s->ssl.get();
    SSL_set_fd(ssl, s->upstream.native_handle());
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

EgressGateway::EgressGateway(asio::io_context& io, GatewayMetrics& metrics, GatewayLimits limits)
    : impl_(std::make_shared<Impl>(io, metrics, limits)) {}

EgressGateway::~EgressGateway() = default;

void EgressGateway::set_tls(std::map<std::string, std::shared_ptr<http::TlsContext>> per_peer) {
  asio::post(impl_->core.io(), [impl = impl_, per_peer = std::move(per_peer)]() mutable { impl->tls = std::move(per_peer); });
}

void EgressGateway::set_routes(std::shared_ptr<const RoutingTable> table) {
  asio::post(impl_->core.io(), [impl = impl_, table = std::move(table)] {
    if (impl->stopped) return;
    if (!impl->started) {
      impl->started = true;
      impl->core.start([impl = impl.get()](const Session& s) { return impl->still_routed(s); });
      impl->schedule_retry();
    }
    impl->apply(*table);
  });
}

void EgressGateway::stop() {
  asio::post(impl_->core.io(), [impl = impl_] {
    impl->stopped = true;
    impl->retry_timer.cancel();
    for (auto& [id, l] : impl->listeners) impl->close(*l);
    impl->listeners.clear();
    impl->core.stop();
  });
}

int EgressGateway::open_connections() const { return impl_->core.open_connections(); }

std::map<std::string, uint16_t> EgressGateway::listening() const {
  std::lock_guard lock(impl_->ports_mu);
  return impl_->ports;
}

}  // namespace meshfed::gateway
