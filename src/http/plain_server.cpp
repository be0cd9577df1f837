#include "meshfed/http/plain_server.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <map>
#include <string>

#include "net/open_acceptor.hpp"
#include "net/run_off_loop.hpp"

namespace meshfed::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr size_t kHeaderLimit = 8 * 1024;
constexpr auto kRequestTimeout = 10s;
// Scrapers are few; strangers holding connections open must not exhaust the process's files.
constexpr int kMaxConnections = 256;
constexpr int kMaxConnectionsPerSource = 16;

std::string reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    default:
      return "Error";
  }
}

std::string render(const Response& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
         "\r\nConnection: close\r\nCache-Control: no-store\r\n";
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  return out + "\r\n" + r.body;
}

Response plain(int status, const std::string& text) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = text + "\n";
  return r;
}

}  // namespace

struct PlainHttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io_, std::function<Response(const Request&)> h, BlockingRunner r)
      : io(io_), acceptor(io_), handler(std::move(h)), run_blocking(std::move(r)) {}
  asio::io_context& io;
  tcp::acceptor acceptor;
  std::function<Response(const Request&)> handler;
  BlockingRunner run_blocking;
  int open = 0;                           // touched on the event loop only
  std::map<std::string, int> per_source;  // open connections by remote address

  asio::awaitable<Response> respond(Request req) {
    if (!run_blocking) co_return handler(req);
    std::function<Response()> job = [self = shared_from_this(), req] {
      return self->handler(req);
    };  // named: see server.cpp
    co_return co_await net::run_off_loop<Response>(io.get_executor(), run_blocking, req.path, std::move(job));
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    boost::system::error_code ec;
    // The deadline's handler may already be queued (expired, so no longer cancellable) when
    // this coroutine ends and its socket goes: it looks at `served` before touching the socket.
    auto served = std::make_shared<bool>(false);
    struct MarkServed {
      std::shared_ptr<bool> flag;
      ~MarkServed() { *flag = true; }
    } mark_served{served};
    asio::steady_timer deadline(io, kRequestTimeout);
    deadline.async_wait([&socket, served](const boost::system::error_code& e) {
      if (!e && !*served) socket.close();
    });
    asio::streambuf buf(kHeaderLimit);
    co_await asio::async_read_until(socket, buf, "\r\n\r\n", asio::redirect_error(asio::use_awaitable, ec));
    Response res;
    if (ec == asio::error::not_found) {
      res = plain(400, "request headers exceed " + std::to_string(kHeaderLimit) + " bytes");
    } else if (ec) {
      co_return;
    } else {
      std::string head(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
      const auto line = head.substr(0, head.find("\r\n"));
      const auto sp1 = line.find(' ');
      const auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
      Request req;
      if (sp1 == std::string::npos || sp2 == std::string::npos) {
        res = plain(400, "malformed request line");
      } else {
        req.method = line.substr(0, sp1);
        req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        if (req.method != "GET") {
          res = plain(405, "only GET is served here");
        } else if (!parse_target(req.target, req.path, req.query)) {
          res = plain(400, "malformed request target");
        } else {
          res = co_await respond(std::move(req));
        }
      }
    }
    const std::string out = render(res);
    co_await asio::async_write(socket, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
    socket.shutdown(tcp::socket::shutdown_send, ec);
    deadline.cancel();
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;
      const auto remote = socket.remote_endpoint(ec);
      if (ec) continue;
      std::string source = remote.address().to_string();
      if (open >= kMaxConnections || per_source[source] >= kMaxConnectionsPerSource) {
        if (per_source[source] == 0) per_source.erase(source);
        continue;  // closed as it goes out of scope
      }
      ++open;
      ++per_source[source];
      asio::co_spawn(
          io, [self, s = std::move(socket)]() mutable { return self->serve(std::move(s)); },
          [self, source](std::exception_ptr) {
            --self->open;
            if (--self->per_source[source] <= 0) self->per_source.erase(source);
          });
    }
  }
};

PlainHttpServer::PlainHttpServer(asio::io_context& io, std::function<Response(const Request&)> handler,
                                 BlockingRunner run_blocking)
    : impl_(std::make_shared<Impl>(io, std::move(handler), std::move(run_blocking))) {}

PlainHttpServer::~PlainHttpServer() = default;

Status PlainHttpServer::listen(const config::Endpoint& endpoint) {
  if (auto ec = net::open_acceptor(impl_->acceptor, endpoint.host, endpoint.port)) {
    return make_error(ErrorCode::kUnavailable, "cannot listen on " + endpoint.to_string() + ": " + ec.message());
  }
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  return {};
}

uint16_t PlainHttpServer::port() const {
  boost::system::error_code ec;
  const auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void PlainHttpServer::stop() {
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

}  // namespace meshfed::http
