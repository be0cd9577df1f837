#include "meshfed/http/server.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include "meshfed/core/failure_budget.hpp"
#include "meshfed/core/mutex.hpp"
#include "meshfed/core/text.hpp"
#include "net/loop_threads.hpp"
#include "net/open_acceptor.hpp"
#include "net/run_off_loop.hpp"

#include <array>
#include <atomic>
#include <map>
#include <optional>
#include <set>

namespace meshfed::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Stage = net::Admission::Stage;

// One connection lives on one of the server's worker loops: its handshake, reads, writes,
// deadlines and session coroutine all run on that loop's thread, and anything else that must
// touch its stream (eviction, stop, a trust change) is posted there with on_its_loop().
struct Connection {
  // HTTPS with `ctx`, plain HTTP without.
  Connection(tcp::socket s, asio::ssl::context* ctx) {
    if (ctx) {
      tls.emplace(std::move(s), *ctx);
    } else {
      plain.emplace(std::move(s));
    }
  }
  std::optional<TlsStream> tls;
  std::optional<beast::tcp_stream> plain;
  std::unique_ptr<net::Admission::Ticket> ticket;  // set before the session starts
  std::string peer;                                // who the handshake authenticated (guarded by Impl::mu)
  bool busy = false;                               // a request is being handled (on its loop)

  beast::tcp_stream& transport() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  void set_busy(bool b) {
    busy = b;
    ticket->set_busy(b);
  }
  template <typename Action>
  void on_its_loop(Action action) {
    asio::post(transport().get_executor(), std::move(action));
  }
  void close() {  // on its loop
    beast::error_code ignored;
    transport().socket().close(ignored);  // the session ends on the error
  }
};

Request to_request(const bhttp::request<bhttp::string_body>& m, const std::string& remote) {
  Request r;
  r.method = std::string(m.method_string());
  r.target = std::string(m.target());
  for (const auto& f : m) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(f.value());
  }
  r.body = m.body();
  r.remote = remote;
  return r;
}

// Takes the body: a catalog answer is tens of kilobytes, not to be copied once more per request.
bhttp::response<bhttp::string_body> to_beast(Response res, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(res.status), version};
  out.set(bhttp::field::server, "meshfed");
  if (!res.body.empty() || res.status != 304) out.set(bhttp::field::content_type, res.content_type);
  out.set(bhttp::field::cache_control, "no-store");
  for (const auto& [k, v] : res.headers) out.set(k, v);
  out.body() = std::move(res.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io_, ContextProvider tls_, Handler handler_, ErrorResponder on_error_,
       BlockingRunner run_blocking_, ServerLimits limits_)
      : acceptor(io_), workers(std::make_unique<net::LoopThreads>(std::max(1, limits_.threads))), tls(std::move(tls_)),
        handler(std::move(handler_)), on_error(std::move(on_error_)), run_blocking(std::move(run_blocking_)),
        limits(limits_), admission(limits_.name, limits_.admission) {}

  tcp::acceptor acceptor;  // on the event loop
  // Where connections live: TLS handshakes cost CPU that a stranger chooses to spend, so they
  // run here, spread over the workers, never on the event loop or the thread that answers.
  std::unique_ptr<net::LoopThreads> workers;
  ContextProvider tls;
  Handler handler;
  ErrorResponder on_error;
  BlockingRunner run_blocking;
  ServerLimits limits;
  net::Admission admission;
  std::function<std::string(ssl_st*)> identify;
  std::function<std::optional<Response>(const Request&)> quick;
  std::function<HttpServer::Headers(const Request&)> not_modified_headers;
  std::function<void(const HttpServer::HandshakeFailure&)> handshake_failed;
  std::atomic<bool> stopping{false};

  // What the connections' loops share.
  mutable Mutex mu;
  std::set<std::shared_ptr<Connection>> connections GUARDED_BY(mu);
  // Long-poll waiters by key; each timer lives on its connection's loop. `notifications`
  // counts every wake-up, so that one landing while the handler runs is never missed: the
  // handler is asked again instead of waiting.
  // It is counted up under `mu`, and compared with what a handler saw under `mu`; read alone
  // (before a handler runs) it needs no lock, so a request that never waits takes none.
  std::multimap<std::string, std::shared_ptr<asio::steady_timer>> waiters GUARDED_BY(mu);
  std::atomic<uint64_t> notifications{0};

  static void cancel_on_its_loop(const std::shared_ptr<asio::steady_timer>& timer) {
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  }

  void wake(const std::vector<std::string>& keys) {
    MutexLock lock(mu);
    ++notifications;
    for (const auto& k : keys) {
      auto [first, last] = waiters.equal_range(k);
      for (auto it = first; it != last; ++it) cancel_on_its_loop(it->second);
    }
  }

  uint64_t notifications_so_far() const { return notifications.load(std::memory_order_acquire); }

  // Runs the handler, and while it answers "nothing yet", waits for a notification or the deadline.
  asio::awaitable<Response> respond(Request req) {
    std::optional<std::chrono::steady_clock::time_point> deadline;
    for (;;) {
      const uint64_t before = notifications_so_far();
      Response res = co_await run_handler(req);
      if (!res.waiting()) co_return res;
      if (stopping) co_return not_modified(req, res);
      const auto now = std::chrono::steady_clock::now();
      if (!deadline) deadline = now + std::min<std::chrono::milliseconds>(res.wait, limits.max_wait);
      if (now >= *deadline) co_return not_modified(req, res);
      auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, *deadline);
      std::multimap<std::string, std::shared_ptr<asio::steady_timer>>::iterator it;
      {
        MutexLock lock(mu);
        if (notifications != before) continue;  // something changed while the handler ran
        it = waiters.emplace(res.wait_key, timer);
      }
      // A wake() from now on posts its cancel to this loop, so it lands after the wait began.
      beast::error_code ec;
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      {
        MutexLock lock(mu);
        waiters.erase(it);
      }
      if (!ec || stopping) co_return not_modified(req, res);  // the deadline passed
    }
  }

  // The 304 for a handler's "nothing yet", with the headers it gave and those made now.
  Response not_modified(const Request& req, const Response& waiting) const {
    Response r;
    r.status = 304;
    r.content_type.clear();
    r.headers = waiting.headers;
    if (not_modified_headers) {
      for (auto& h : not_modified_headers(req)) r.headers.push_back(std::move(h));
    }
    return r;
  }

  Response limit_exceeded(const std::string& what, size_t limit) const {
    return on_error(
        make_error(ErrorCode::kPayloadTooLarge,
                   "request " + what + " exceed" + (what == "body" ? "s " : " ") + std::to_string(limit) + " bytes",
                   {{what, "too large"}}));
  }

  // The answer owed for a failed read, if any: oversized headers or body, or a request that
  // does not parse. Closed, reset or timed-out connections get none.
  std::optional<Response> refusal_for(const beast::error_code& ec) const {
    if (ec == bhttp::error::header_limit) return limit_exceeded("headers", limits.header_limit);
    if (ec == bhttp::error::body_limit) return limit_exceeded("body", limits.body_limit);
    const bool http_error = ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
    if (http_error && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      return on_error(make_error(ErrorCode::kInvalidArgument, "malformed HTTP request: " + ec.message()));
    }
    return std::nullopt;
  }

  // RFC 9112 3.2: an HTTP/1.1 request carries exactly one Host; without it, or with two, which
  // host it names is ambiguous (and what sits in front of us may have read the other one).
  // RFC 9112 6.1/6.3: a request whose Transfer-Encoding is not chunked alone has no length
  // we can trust ("chunked, identity", "xchunked"): 400 rather than a guessed empty body.
  std::optional<Response> framing_refusal(const bhttp::request<bhttp::string_body>& m) const {
    if (m.version() >= 11 && m.count(bhttp::field::host) != 1) {
      return on_error(make_error(ErrorCode::kInvalidArgument, "an HTTP/1.1 request needs exactly one Host header",
                                 {{"host", std::to_string(m.count(bhttp::field::host)) + " given"}}));
    }
    const auto te = m.find(bhttp::field::transfer_encoding);
    if (te == m.end()) return std::nullopt;
    std::string value(te->value());
    for (auto& ch : value) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const auto first = value.find_first_not_of(" \t");
    const auto last = value.find_last_not_of(" \t");
    if (first != std::string::npos && value.substr(first, last - first + 1) == "chunked" &&
        m.count(bhttp::field::transfer_encoding) == 1 && m.count(bhttp::field::content_length) == 0) {
      return std::nullopt;
    }
    return on_error(make_error(ErrorCode::kInvalidArgument,
                               "Transfer-Encoding must be \"chunked\" alone, without Content-Length",
                               {{"transfer-encoding", "unsupported"}}));
  }

  Response malformed_target(const std::string& target) const {
    return on_error(make_error(ErrorCode::kInvalidArgument, "malformed request target", {{"target", target}}));
  }

  // Runs the handler on the blocking executor and resumes on the connection's loop with its answer.
  Response failed(const Request& req, const std::exception& e) const {
    spdlog::error("http: handler failed on {} {}: {}", escape_for_log(req.method), escape_for_log(req.path), e.what());
    return on_error(make_error(ErrorCode::kInternal, "internal error"));
  }

  asio::awaitable<Response> run_handler(Request req) {
    if (quick) {
      try {
        if (auto res = quick(req)) co_return std::move(*res);
      } catch (const std::exception& e) {
        co_return failed(req, e);
      }
    }
    // Named: GCC 12 mishandles temporaries inside a co_await expression.
    auto post = [this, method = req.method, path = req.path](std::function<void()> job) {
      run_blocking(method, path, std::move(job));
    };
    std::function<Response()> job = [self = shared_from_this(), req = std::move(req)]() -> Response {
      try {
        return self->handler(req);
      } catch (const std::exception& e) {
        return self->failed(req, e);
      }
    };
    if (!run_blocking) co_return job();
    const auto loop = co_await asio::this_coro::executor;
    co_return co_await net::run_off_loop<Response>(loop, post, std::move(job));
  }

  template <class Stream>
  asio::awaitable<void> write(Stream& stream, Response res, unsigned version, bool keep_alive) {
    auto msg = to_beast(std::move(res), version, keep_alive);
    beast::get_lowest_layer(stream).expires_after(limits.request_timeout);
    co_await bhttp::async_write(stream, msg, asio::use_awaitable);
  }

  // After refusing a request whose body we did not read, keep reading (and discarding) for a
  // moment before closing: closing with unread data makes the kernel send RST, which can
  // destroy our error response before the client reads it.
  template <class Stream>
  asio::awaitable<void> linger(Stream& stream) {
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
    std::array<char, 16 * 1024> scratch{};
    size_t total = 0;
    while (!ec && total < 8 * std::max<size_t>(limits.body_limit, scratch.size())) {
      total += co_await stream.async_read_some(asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // Waits, until `deadline`, for the client's first byte without taking it: until then the
  // connection is kSilent, the first to make room at capacity.
  asio::awaitable<void> first_byte(std::shared_ptr<Connection> c, std::chrono::steady_clock::time_point deadline,
                                   beast::error_code& ec) {
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    timer.async_wait([c, timed_out](const beast::error_code& e) {
      if (e) return;
      *timed_out = true;
      c->close();
    });
    std::array<char, 1> peeked{};
    co_await c->transport().socket().async_receive(asio::buffer(peeked), tcp::socket::message_peek,
                                                   asio::redirect_error(asio::use_awaitable, ec));
    timer.cancel();
    if (*timed_out) ec = beast::error::timeout;
  }

  asio::awaitable<void> session(std::shared_ptr<Connection> c, std::string remote) {
    beast::error_code ec;
    const auto handshake_deadline = std::chrono::steady_clock::now() + limits.handshake_timeout;
    co_await first_byte(c, handshake_deadline, ec);
    if (ec) co_return;
    if (!c->tls) {
      c->ticket->advance(Stage::kEstablished);
      co_await serve(c, *c->plain, remote, "");
      c->transport().socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    c->ticket->advance(Stage::kHandshake);
    c->transport().expires_at(handshake_deadline);
    co_await c->tls->async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      spdlog::debug("http: TLS handshake with {} failed: {}", remote, ec.message());
      if (handshake_failed) {
        // Only a certificate that failed verification is a failed authentication: a scanner's
        // probes (an old protocol, no certificate at all) are the listener's deadlines' business.
        const bool refused_certificate =
            ec.category() == asio::error::get_ssl_category() &&
            ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
        handshake_failed({ec.message(), address_of(remote), refused_certificate});
      }
      co_return;
    }
    c->ticket->advance(Stage::kEstablished);
    std::string peer;
    if (identify) {
      peer = identify(c->tls->native_handle());
      if (peer.empty() || !c->ticket->authenticate(peer)) co_return;
      MutexLock lock(mu);
      c->peer = peer;
    }
    co_await serve(c, *c->tls, remote, peer);
    // Send close_notify; don't wait long for the peer's when we are stopping.
    c->transport().expires_after(stopping ? std::chrono::milliseconds(200) : std::chrono::milliseconds(2000));
    co_await c->tls->async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }

  // Requests on an established connection, one after another, until either side closes.
  template <class Stream>
  asio::awaitable<void> serve(std::shared_ptr<Connection> c, Stream& stream, const std::string& remote,
                              const std::string& peer) {
    beast::error_code ec;
    beast::flat_buffer buffer;
    for (;;) {
      if (stopping || c->ticket->evicted()) break;
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
      parser.body_limit(limits.body_limit);
      // One deadline for the whole header, idle wait included: a trickle cannot stretch it.
      c->transport().expires_after(limits.header_timeout);
      co_await bhttp::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        // Some read errors deserve an answer before the connection closes; the rest (end of
        // stream, truncation, timeouts, cancellation) just end the session. The refusal is
        // built outside the co_await: GCC 12 miscompiles braced temporaries inside one.
        if (const std::optional<Response> refusal = refusal_for(ec)) {
          co_await write(stream, *refusal, 11, false);
          co_await linger(stream);
        }
        break;
      }
      c->set_busy(true);
      if (const std::optional<Response> refusal = framing_refusal(parser.get())) {
        co_await write(stream, *refusal, 11, false);
        co_await linger(stream);
        break;
      }
      if (parser.get()[bhttp::field::expect] == "100-continue") {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
        co_await bhttp::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
      }
      c->transport().expires_after(limits.request_timeout);
      co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (const std::optional<Response> refusal = refusal_for(ec)) {
          co_await write(stream, *refusal, 11, false);
          co_await linger(stream);
        }
        break;
      }
      const auto& msg = parser.get();
      Request req = to_request(msg, remote);
      Response res;
      if (!parse_target(req.target, req.path, req.query)) {
        res = malformed_target(req.target);
      } else {
        req.peer = peer;
        res = co_await respond(std::move(req));
      }
      const bool keep_alive = msg.keep_alive() && !stopping && !c->ticket->evicted();
      co_await write(stream, std::move(res), msg.version(), keep_alive);
      c->set_busy(false);
      if (!keep_alive) break;
    }
  }

  void forget(const std::shared_ptr<Connection>& c) {
    MutexLock lock(mu);
    connections.erase(c);
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      beast::error_code ec;
      // Accepted on the acceptor's loop, then handed to a worker loop, where the socket, its
      // deadlines and its session belong. (Accepting straight onto the worker would leave the
      // pending accept holding a worker's socket in the acceptor's loop, which may outlive the
      // workers: its destruction then calls into a destroyed service.)
      tcp::socket accepted = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        spdlog::warn("{}: accept failed: {}", limits.name, ec.message());
        continue;
      }
      const auto ep = accepted.remote_endpoint(ec);
      if (ec) continue;  // already gone
      const std::string address = ep.address().to_string();
      const std::string remote = address + ":" + std::to_string(ep.port());
      // The connection is made only once admitted; eviction reaches it through this slot, and
      // closes it on its loop when it is not serving a request.
      auto evict_slot = std::make_shared<std::weak_ptr<Connection>>();
      auto ticket = admission.admit(address, [evict_slot] {
        if (auto victim = evict_slot->lock()) {
          victim->on_its_loop([victim] {
            if (!victim->busy) victim->close();
          });
        }
      });
      if (!ticket) continue;  // the socket closes as it goes out of scope
      accepted.set_option(tcp::no_delay(true), ec);
      const auto protocol = ep.protocol();
      const auto fd = accepted.release(ec);
      if (ec) continue;
      tcp::socket socket(workers->next(), protocol, fd);
      auto ctx = tls ? tls() : nullptr;
      auto conn = std::make_shared<Connection>(std::move(socket), ctx.get());
      conn->ticket = std::move(ticket);
      *evict_slot = conn;
      {
        MutexLock lock(mu);
        connections.insert(conn);
      }
      asio::co_spawn(
          conn->transport().get_executor(), [self, conn, remote, ctx]() { return self->session(conn, remote); },
          [self, conn](std::exception_ptr e) {
            self->forget(conn);
            if (e) {
              try {
                std::rethrow_exception(e);
              } catch (const std::exception& ex) {
                spdlog::debug("http: connection ended: {}", ex.what());
              }
            }
          });
    }
  }
};

HttpServer::HttpServer(asio::io_context& io, ContextProvider tls, Handler handler, ErrorResponder on_error,
                       BlockingRunner run_blocking, ServerLimits limits)
    : impl_(std::make_shared<Impl>(io, std::move(tls), std::move(handler), std::move(on_error), std::move(run_blocking),
                                   limits)) {}

HttpServer::~HttpServer() {
  // The workers stop first; what the connections and waiters hold must go before the loops'
  // services do, and the loops' queued coroutines (which hold the Impl) go with the loops.
  impl_->workers->stop();
  {
    MutexLock lock(impl_->mu);
    impl_->connections.clear();
    impl_->waiters.clear();
  }
  impl_->workers.reset();
}

Status HttpServer::listen(const config::Endpoint& endpoint) {
  if (auto ec = net::open_acceptor(impl_->acceptor, endpoint.host, endpoint.port)) {
    return make_error(ErrorCode::kUnavailable, "cannot listen on " + endpoint.to_string() + ": " + ec.message());
  }
  asio::co_spawn(impl_->acceptor.get_executor(), impl_->accept_loop(), asio::detached);
  return {};
}

uint16_t HttpServer::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void HttpServer::stop() {
  impl_->stopping = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  MutexLock lock(impl_->mu);
  for (const auto& c : impl_->connections) {
    c->on_its_loop([c] {
      if (!c->busy) c->transport().cancel();
    });
  }
  for (const auto& [key, timer] : impl_->waiters) Impl::cancel_on_its_loop(timer);  // long-polls answer 304 now
}

void HttpServer::set_quick_answers(std::function<std::optional<Response>(const Request&)> quick) {
  impl_->quick = std::move(quick);
}

void HttpServer::set_not_modified_headers(std::function<Headers(const Request&)> make) {
  impl_->not_modified_headers = std::move(make);
}

void HttpServer::set_identity(std::function<std::string(ssl_st* ssl)> identify) {
  impl_->identify = std::move(identify);
}

net::Admission& HttpServer::admission() { return impl_->admission; }

void HttpServer::on_handshake_failure(std::function<void(const HandshakeFailure&)> told) {
  impl_->handshake_failed = std::move(told);
}

void HttpServer::notify(const std::vector<std::string>& keys) { impl_->wake(keys); }

void HttpServer::revalidate_peers() {
  if (!impl_->identify) return;
  MutexLock lock(impl_->mu);
  for (const auto& c : impl_->connections) {
    if (c->peer.empty()) continue;
    c->on_its_loop([impl = impl_, c, peer = c->peer] {
      if (impl->identify(c->tls->native_handle()) == peer) return;
      spdlog::warn("http: closing a connection of {}: its certificate is no longer trusted", peer);
      c->close();
      impl->wake({peer});  // a waiting long-poll ends now, on its closed socket
    });
  }
}

int HttpServer::open_connections() const {
  MutexLock lock(impl_->mu);
  return static_cast<int>(impl_->connections.size());
}

}  // namespace meshfed::http
