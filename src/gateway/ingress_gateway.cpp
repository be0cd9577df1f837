#include "gateway/gateway_core.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "meshfed/core/clock.hpp"
#include "meshfed/gateway/proxy_protocol.hpp"

namespace meshfed::gateway {

struct IngressGateway::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, GatewayMetrics& metrics, GatewayLimits limits)
      : core(io, metrics, "ingress", limits), acceptor(io) {}

  GatewayCore core;
  tcp::acceptor acceptor;
  std::shared_ptr<http::TlsContext> tls;
  std::shared_ptr<const pki::PeerTrust> callers;
  std::shared_ptr<const RoutingTable> routes = std::make_shared<RoutingTable>();

  std::optional<int64_t> still_admitted(const Session& s) const {
    const auto* r = routes->find_ingress(s.sni, s.peer);
    if (!r) return std::nullopt;
    return r->expires_at_ms;
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        spdlog::warn("ingress: accept failed: {}", ec.message());
        continue;
      }
      auto s = core.open(std::move(socket));
      if (!s) continue;
      core.spawn(s, [self, tls_now = tls, trust = callers](std::shared_ptr<Session> session) {
        return self->serve(std::move(session), tls_now, trust);
      });
    }
  }

  // One caller's connection: mTLS, admission by SNI and identity, then the proxy.
  asio::awaitable<void> serve(std::shared_ptr<Session> s, std::shared_ptr<http::TlsContext> ctx,
                              std::shared_ptr<const pki::PeerTrust> trust) {
    if (!ctx || !trust) co_return core.refuse(*s, "no_certificate_loaded");
    s->ssl.reset(SSL_new(ctx->native_handle()));
    SSL_set_fd(s->ssl.get(), s->client.native_handle());
    SSL_set_mode(s->ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    TlsSide tls_side(s->client, s->ssl.get());
    error_code ec;
    std::string reason;
    co_await tls_side.handshake(true, ec, reason);
    if (ec) co_return core.handshake_failed(*s, reason);
    core.handshake_done(*s, SSL_session_reused(s->ssl.get()) == 1);

    s->peer = trust->peer_of(s->ssl.get());
    const char* sni = SSL_get_servername(s->ssl.get(), TLSEXT_NAMETYPE_host_name);
    if (s->peer.empty()) co_return core.refuse(*s, "unknown_identity");
    if (!sni) co_return core.refuse(*s, "no_sni");
    s->sni = sni;
    const IngressRoute* route = routes->find_ingress(s->sni, s->peer);
    if (!route) co_return core.refuse(*s, routes->has_sni(s->sni) ? "not_scoped_to_caller" : "unknown_sni");
    if (route->expires_at_ms <= to_unix_ms(SystemClock().now())) co_return core.refuse(*s, "expired");
    const IngressRoute admitted = *route;  // the table may change while we wait below
    core.admit(*s, admitted.export_id, s->peer, admitted.expires_at_ms);

    if (!co_await core.connect_upstream(s, admitted.target)) co_return;
    PlainSide upstream(s->upstream);
    if (admitted.proxy_protocol) {
      auto header = proxy_header(*s);
      if (!header) co_return s->abort(header.error().message);
      co_await upstream.write_all(asio::buffer(*header), ec);
      if (ec) co_return s->abort("upstream error: " + ec.message());
    }
    co_await core.splice(s, tls_side, upstream);
  }

  // Source: the peer's egress as we see it; destination: our listener (DESIGN.md).
  Result<std::string> proxy_header(Session& s) {
    error_code ec1, ec2;
    const auto src = s.client.remote_endpoint(ec1);
    const auto dst = s.client.local_endpoint(ec2);
    if (ec1 || ec2) return make_error(ErrorCode::kUnavailable, "caller gone before the PROXY header");
    const auto sans = pki::uri_sans(SSL_get0_peer_certificate(s.ssl.get()));
    return proxy_v2_header({src.address().to_string(), src.port()}, {dst.address().to_string(), dst.port()}, s.peer,
                           sans.empty() ? std::string() : sans.front());
  }
};

IngressGateway::IngressGateway(asio::io_context& io, GatewayMetrics& metrics, GatewayLimits limits)
    : impl_(std::make_shared<Impl>(io, metrics, limits)) {}

IngressGateway::~IngressGateway() = default;

Status IngressGateway::listen(const config::Endpoint& endpoint) {
  error_code ec;
  const auto addr = asio::ip::make_address(endpoint.host, ec);
  if (ec) return make_error(ErrorCode::kInvalidArgument, "bad ingress listen address " + endpoint.host);
  const tcp::endpoint ep(addr, endpoint.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "ingress cannot listen on " + endpoint.to_string() + ": " + ec.message());
  asio::co_spawn(impl_->core.io(), impl_->accept_loop(), asio::detached);
  impl_->core.start([impl = impl_.get()](const Session& s) { return impl->still_admitted(s); });
  return {};
}

uint16_t IngressGateway::port() const {
  error_code ec;
  const auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void IngressGateway::set_tls(std::shared_ptr<http::TlsContext> server, std::shared_ptr<const pki::PeerTrust> callers) {
  asio::post(impl_->core.io(), [impl = impl_, server = std::move(server), callers = std::move(callers)] {
    impl->tls = server;
    impl->callers = callers;
  });
}

void IngressGateway::set_routes(std::shared_ptr<const RoutingTable> table) {
  asio::post(impl_->core.io(), [impl = impl_, table = std::move(table)] {
    impl->routes = table;
    impl->core.recheck([impl = impl.get()](const Session& s) { return impl->still_admitted(s); });
  });
}

void IngressGateway::stop() {
  asio::post(impl_->core.io(), [impl = impl_] {
    error_code ec;
    impl->acceptor.close(ec);
    impl->core.stop();
  });
}

int IngressGateway::open_connections() const { return impl_->core.open_connections(); }

}  // namespace meshfed::gateway
