// The two kinds of socket a gateway connection joins: plain TCP, and TLS driven by hand
// (asio reads the socket into a memory BIO, OpenSSL writes the socket itself). Driving OpenSSL
// directly, rather than through asio::ssl::stream, is what lets one direction send close_notify
// (a TLS half-close) while the other keeps reading.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "meshfed/core/openssl_handles.hpp"

namespace meshfed::gateway {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Why the last TLS operation failed, in words fit for a metric label.
std::string tls_failure_reason(int ssl_error);

class PlainSide {
 public:
  explicit PlainSide(tcp::socket& s) : socket_(s) {}
  asio::awaitable<size_t> read_some(asio::mutable_buffer b, error_code& ec) {
    co_return co_await socket_.async_read_some(b, asio::redirect_error(asio::use_awaitable, ec));
  }
  asio::awaitable<void> write_all(asio::const_buffer b, error_code& ec) {
    co_await asio::async_write(socket_, b, asio::redirect_error(asio::use_awaitable, ec));
  }
  asio::awaitable<void> shutdown_send(error_code& ec) {
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    co_return;
  }

 private:
  tcp::socket& socket_;
};

// Binds `ssl` to `socket`: reads through a memory BIO that TlsSide fills, writes straight to the
// descriptor. Reading with asio's own speculative read costs one system call less per wait
// than letting OpenSSL read and waiting for readiness (an epoll_ctl each time), and never wakes
// for writability nobody asked about. False when OpenSSL cannot allocate the BIOs.
bool bind_tls(SSL* ssl, tcp::socket& socket);

class TlsSide {
 public:
  // `ssl` must already be bound to `s` (bind_tls).
  TlsSide(tcp::socket& s, SSL* ssl) : socket_(s), ssl_(ssl) {}

  // Runs the handshake; on failure `ec` is set and `reason` says why.
  asio::awaitable<void> handshake(bool server, error_code& ec, std::string& reason);
  // Returns 0 with asio::error::eof once the peer sent close_notify.
  asio::awaitable<size_t> read_some(asio::mutable_buffer b, error_code& ec);
  asio::awaitable<void> write_all(asio::const_buffer b, error_code& ec);
  // Sends close_notify and a TCP FIN; reading goes on.
  asio::awaitable<void> shutdown_send(error_code& ec);

 private:
  // Does what OpenSSL asked for: reads the socket into its BIO (through `scratch`) or waits
  // until the socket takes more; false (with `ec`) on anything else, or when the peer left.
  asio::awaitable<bool> serve(int ssl_error, asio::mutable_buffer scratch, error_code& ec);
  // Waits until the socket takes more, for a writer; false (with `ec`) on anything else.
  asio::awaitable<bool> wait_writable(int ssl_error, error_code& ec);
  tcp::socket& socket_;
  SSL* ssl_;
};

}  // namespace meshfed::gateway
