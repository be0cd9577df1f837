#include "gateway/gateway_core.hpp"
#include "gateway/http2_filter.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <atomic>

#include "meshfed/core/mutex.hpp"
#include "meshfed/core/clock.hpp"
#include "net/open_acceptor.hpp"
#include "meshfed/gateway/proxy_protocol.hpp"

namespace meshfed::gateway {

struct IngressGateway::Impl {
  Impl(GatewayMetrics& metrics, GatewayLimits limits)
      : pool(metrics, "ingress", limits, [this](const Session& s) { return still_admitted(*routes_now(), s); }),
        acceptor(pool.control()) {}
  ~Impl() { stop(); }

  // What new connections use; swapped whole by the setters.
  struct Current {
    std::shared_ptr<http::TlsContext> tls;
    std::shared_ptr<const pki::PeerTrust> callers;
    std::shared_ptr<const RoutingTable> routes = std::make_shared<RoutingTable>();
  };
  mutable Mutex mu;
  Current current GUARDED_BY(mu);
  std::atomic<uint64_t> routes_version{1};  // bumped after `current.routes` changes
  WorkerPool pool;                          // after what its sweeps read: destroyed (joined) first
  tcp::acceptor acceptor;

  Current now() const {
    MutexLock lock(mu);
    return current;
  }
  std::shared_ptr<const RoutingTable> routes_now() const { return now().routes; }

  static std::optional<int64_t> still_admitted(const RoutingTable& routes, const Session& s) {
    const auto* r = routes.find_ingress(s.sni, s.peer);
    if (!r) return std::nullopt;
    return r->expires_at_ms;
  }

  void stop() {
    asio::post(pool.control(), [this] {
      error_code ec;
      acceptor.close(ec);
    });
    pool.stop();
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto& worker = pool.next();
      error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(worker.io, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        spdlog::warn("ingress: accept failed: {}", ec.message());
        continue;
      }
      auto s = worker.core->open(std::move(socket));
      if (!s) continue;
      asio::post(worker.io, [this, core = worker.core.get(), s] {
        core->spawn(s, [this, core, c = now()](std::shared_ptr<Session> session) {
          return serve(*core, std::move(session), c);
        });
      });
    }
  }

  // One caller's connection: mTLS, admission by SNI and identity, then the proxy.
  asio::awaitable<void> serve(GatewayCore& core, std::shared_ptr<Session> s, Current c) {
    if (!c.tls || !c.callers) co_return core.refuse(*s, "no_certificate_loaded");
    s->ssl.reset(SSL_new(c.tls->native_handle()));
    if (!s->ssl || !bind_tls(s->ssl.get(), s->client)) co_return s->abort("out of memory for TLS");
    SSL_set_mode(s->ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    TlsSide tls_side(s->client, s->ssl.get());
    error_code ec;
    std::string reason;
    co_await tls_side.handshake(true, ec, reason);
    if (ec) co_return core.handshake_failed(*s, reason);
    core.handshake_done(*s, SSL_session_reused(s->ssl.get()) == 1);

    s->peer = c.callers->peer_of(s->ssl.get());
    const char* sni = SSL_get_servername(s->ssl.get(), TLSEXT_NAMETYPE_host_name);
    if (s->peer.empty()) co_return core.refuse(*s, "unknown_identity");
    if (!s->ticket->authenticate(s->peer)) co_return s->abort("refused: per_peer");  // counted by admission
    if (!sni) co_return core.refuse(*s, "no_sni");
    s->sni = sni;
    const auto routes = routes_now();  // the table as it is after the handshake
    const IngressRoute* route = routes->find_ingress(s->sni, s->peer);
    if (!route) co_return core.refuse(*s, routes->has_sni(s->sni) ? "not_scoped_to_caller" : "unknown_sni");
    if (route->expires_at_ms <= to_unix_ms(SystemClock().now())) co_return core.refuse(*s, "expired");
    const IngressRoute admitted = *route;
    core.admit(*s, admitted.export_id, s->peer, admitted.expires_at_ms);

    if (!co_await core.connect_upstream(s, admitted.target)) co_return;
    PlainSide upstream(s->upstream);
    if (admitted.proxy_protocol) {
      auto header = proxy_header(*s);
      if (!header) co_return s->abort(header.error().message);
      co_await upstream.write_all(asio::buffer(*header), ec);
      if (ec) co_return s->abort("upstream error: " + ec.message());
    }
    if (admitted.l7 && admitted.protocol == "http") co_return co_await filter_http1(core, s, tls_side, upstream);
    if (admitted.l7) co_return co_await filter_http2(core, s, tls_side, upstream);
    co_await core.splice(s, tls_side, upstream);
  }

  // An export with L7 rules: every request judged by the rules in force when it arrives.
  asio::awaitable<void> filter_http1(GatewayCore& core, std::shared_ptr<Session> s, TlsSide& client,
                                     PlainSide& upstream) {
    Http1Filter filter(s->route, rules_of(*s));
    std::vector<char> buffer(core.limits().buffer_bytes);
    FilterOutput out;  // its buffers kept from request to request
    error_code ec;
    for (;;) {
      out.to_upstream.clear();
      out.to_client.clear();
      out.refused.clear();
      const auto want = filter.want();
      if (want == Http1Filter::Want::kTunnel) co_return co_await core.splice(s, client, upstream);
      if (want == Http1Filter::Want::kClose) {
        co_await client.shutdown_send(ec);
        co_return;
      }
      const bool from_client = want == Http1Filter::Want::kClient;
      const size_t n = from_client ? co_await client.read_some(asio::buffer(buffer), ec)
                                   : co_await upstream.read_some(asio::buffer(buffer), ec);
      if (s->closed) co_return;
      if (ec == asio::error::eof) {
        from_client ? filter.client_ended(out) : filter.upstream_ended(out);
      } else if (ec) {
        co_return s->abort((from_client ? "client error: " : "upstream error: ") + ec.message());
      } else {
        s->last_activity = std::chrono::steady_clock::now();
        const std::string_view bytes(buffer.data(), n);
        from_client ? filter.from_client(bytes, out) : filter.from_upstream(bytes, out);
      }
      for (const auto& r : out.refused) core.request_refused(*s, r);
      if (!out.to_upstream.empty()) {
        co_await upstream.write_all(asio::buffer(out.to_upstream), ec);
        if (s->closed) co_return;
        if (ec) co_return s->abort("upstream error: " + ec.message());
        s->bytes_up += out.to_upstream.size();
      }
      if (!out.to_client.empty()) {
        co_await client.write_all(asio::buffer(out.to_client), ec);
        if (s->closed) co_return;
        if (ec) co_return s->abort("client error: " + ec.message());
        s->bytes_down += out.to_client.size();
      }
      s->last_activity = std::chrono::steady_clock::now();
    }
  }

  // The rules in force for the caller's route now; nullopt once the route is gone. Looked up
  // again only when the routing table changed since the connection's last request.
  Http1Filter::Rules rules_of(const Session& s) {
    struct Cache {
      uint64_t version = 0;
      std::optional<std::shared_ptr<const policy::L7Rules>> rules;
    };
    return [this, sni = s.sni, peer = s.peer, cache = Cache{}]() mutable {
      const uint64_t version = routes_version.load(std::memory_order_acquire);
      if (version != cache.version) {
        const auto routes = routes_now();
        const IngressRoute* r = routes->find_ingress(sni, peer);
        cache = {version, r ? std::optional(r->l7) : std::nullopt};
      }
      return cache.rules;
    };
  }

  // An h2c export with L7 rules: both directions read at once (HTTP/2 multiplexes), every
  // request header block judged. The caller's side has two writers (the service's frames and
  // our answers), which take turns through one queue; a reader waits while it is full.
  asio::awaitable<void> filter_http2(GatewayCore& core, std::shared_ptr<Session> s, TlsSide& client,
                                     PlainSide& upstream) {
    Http2Filter filter(s->route, rules_of(*s));
    ClientQueue to_client(client, core.io());
    const size_t limit = core.limits().buffer_bytes;
    // Writes what `out` holds; false once the session cannot go on.
    auto deliver = [&](FilterOutput out) -> asio::awaitable<bool> {
      for (const auto& r : out.refused) core.request_refused(*s, r);
      error_code ec;
      if (!out.to_upstream.empty()) {
        co_await upstream.write_all(asio::buffer(out.to_upstream), ec);
        if (s->closed) co_return false;
        if (ec) {
          s->abort("upstream error: " + ec.message());
          co_return false;
        }
        s->bytes_up += out.to_upstream.size();
      }
      if (!out.to_client.empty() && !co_await to_client.send(*s, std::move(out.to_client), limit)) co_return false;
      if (filter.closed()) {
        co_await to_client.flush(*s);
        s->abort("refused: malformed HTTP/2");
        co_return false;
      }
      s->last_activity = std::chrono::steady_clock::now();
      co_return true;
    };
    auto read_service = [&]() -> asio::awaitable<void> {
      std::vector<char> buffer(limit);
      for (;;) {
        error_code ec;
        const size_t n = co_await upstream.read_some(asio::buffer(buffer), ec);
        if (s->closed) co_return;
        if (ec) {
          co_await to_client.flush(*s);
          co_return s->abort(ec == asio::error::eof ? "" : "upstream error: " + ec.message());
        }
        FilterOutput out;
        filter.from_upstream(std::string_view(buffer.data(), n), out);
        if (!co_await deliver(std::move(out))) co_return;
      }
    };
    bool service_done = false;
    asio::steady_timer done(core.io(), SteadyTime::max());
    asio::co_spawn(core.io(), read_service(), [&](std::exception_ptr) {
      service_done = true;
      done.cancel();
    });
    std::vector<char> buffer(limit);
    for (;;) {
      error_code ec;
      const size_t n = co_await client.read_some(asio::buffer(buffer), ec);
      if (s->closed) break;
      if (ec == asio::error::eof) {
        co_await upstream.shutdown_send(ec);  // the service answers what it has, then ends
        break;
      }
      if (ec) {
        s->abort("client error: " + ec.message());
        break;
      }
      FilterOutput out;
      filter.from_client(std::string_view(buffer.data(), n), out);
      if (!co_await deliver(std::move(out))) break;
    }
    error_code ec;
    while (!service_done) co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // One writer at a time on the caller's TLS side; what others hand it meanwhile goes out next.
  class ClientQueue {
   public:
    ClientQueue(TlsSide& side, asio::io_context& io) : side_(side), changed_(io, SteadyTime::max()) {}

    // Queues `bytes`; the first caller writes until the queue is empty, the others wait while
    // it holds more than `limit`. False once the session cannot go on.
    asio::awaitable<bool> send(Session& s, std::string bytes, size_t limit) {
      pending_ += bytes;
      if (writing_) {
        while (writing_ && pending_.size() > limit && !s.closed) co_await wait();
        co_return !s.closed;
      }
      co_return co_await drain(s);
    }
    asio::awaitable<void> flush(Session& s) {
      while (writing_ && !s.closed) co_await wait();
      if (!pending_.empty()) co_await drain(s);
    }

   private:
    asio::awaitable<bool> drain(Session& s) {
      writing_ = true;
      error_code ec;
      while (!pending_.empty() && !s.closed && !ec) {
        const std::string chunk = std::exchange(pending_, {});
        co_await side_.write_all(asio::buffer(chunk), ec);
        if (!ec) s.bytes_down += chunk.size();
        changed_.cancel();
      }
      writing_ = false;
      changed_.cancel();
      if (ec && !s.closed) s.abort("client error: " + ec.message());
      co_return !s.closed;
    }
    asio::awaitable<void> wait() {
      error_code ec;
      changed_.expires_at(SteadyTime::max());
      co_await changed_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }

    TlsSide& side_;
    asio::steady_timer changed_;  // cancelled whenever the queue shrinks or the writer stops
    std::string pending_;
    bool writing_ = false;
  };

  // Source: the peer's egress as we see it; destination: our listener.
  static Result<std::string> proxy_header(Session& s) {
    error_code ec1, ec2;
    const auto src = s.client.remote_endpoint(ec1);
    const auto dst = s.client.local_endpoint(ec2);
    if (ec1 || ec2) return make_error(ErrorCode::kUnavailable, "caller gone before the PROXY header");
    const auto sans = pki::uri_sans(SSL_get0_peer_certificate(s.ssl.get()));
    return proxy_v2_header({src.address().to_string(), src.port()}, {dst.address().to_string(), dst.port()}, s.peer,
                           sans.empty() ? std::string() : sans.front());
  }
};

IngressGateway::IngressGateway(GatewayMetrics& metrics, GatewayLimits limits)
    : impl_(std::make_unique<Impl>(metrics, limits)) {}

IngressGateway::~IngressGateway() = default;

Status IngressGateway::listen(const config::Endpoint& endpoint) {
  if (auto ec = net::open_acceptor(impl_->acceptor, endpoint.host, endpoint.port)) {
    return make_error(ErrorCode::kUnavailable,
                      "ingress cannot listen on " + endpoint.to_string() + ": " + ec.message());
  }
  asio::co_spawn(impl_->pool.control(), impl_->accept_loop(), asio::detached);
  return {};
}

uint16_t IngressGateway::port() const {
  error_code ec;
  const auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void IngressGateway::set_tls(std::shared_ptr<http::TlsContext> server, std::shared_ptr<const pki::PeerTrust> callers) {
  bool trust_changed = false;
  {
    MutexLock lock(impl_->mu);
    trust_changed = impl_->current.callers && impl_->current.callers != callers;
    impl_->current.tls = std::move(server);
    impl_->current.callers = callers;
  }
  if (!trust_changed || !callers) return;
  // A peer's CA removed or replaced: what the old trust admitted ends, as quarantine ends it.
  impl_->pool.each([callers](GatewayCore& core) {
    core.cut_unless([&callers](const Session& s) { return callers->peer_of(s.ssl.get()) == s.peer; },
                    "peer_trust_changed");
  });
}

void IngressGateway::set_routes(std::shared_ptr<const RoutingTable> table) {
  {
    MutexLock lock(impl_->mu);
    impl_->current.routes = table;
  }
  impl_->routes_version.fetch_add(1, std::memory_order_release);
  impl_->pool.each([table](GatewayCore& core) {
    core.recheck([table](const Session& s) { return Impl::still_admitted(*table, s); });
  });
}

void IngressGateway::stop() { impl_->stop(); }

int IngressGateway::open_connections() const { return impl_->pool.open_connections(); }

}  // namespace meshfed::gateway
