#include "gateway/stream_sides.hpp"

#include <openssl/err.h>

#include <vector>

namespace meshfed::gateway {

std::string tls_failure_reason(int ssl_error) {
  if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) return "closed";
  if (ssl_error == SSL_ERROR_SSL) {
    const unsigned long e = ERR_peek_last_error();
    if (const char* r = ERR_reason_error_string(e)) return r;
  }
  return "tls error";
}

bool bind_tls(SSL* ssl, tcp::socket& socket) {
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new_socket(socket.native_handle(), BIO_NOCLOSE);
  if (!in || !out) {
    BIO_free(in);
    BIO_free(out);
    return false;
  }
  SSL_set_bio(ssl, in, out);
  return true;
}

asio::awaitable<bool> TlsSide::serve(int ssl_error, asio::mutable_buffer scratch, error_code& ec) {
  if (ssl_error == SSL_ERROR_WANT_READ) {
    const size_t n = co_await socket_.async_read_some(scratch, asio::redirect_error(asio::use_awaitable, ec));
    // A TCP close without close_notify could be a truncation attack: never an orderly end.
    if (ec == asio::error::eof) ec = asio::error::connection_aborted;
    if (ec) co_return false;
    // A memory BIO takes what it is given (OpenSSL drains it before asking again), unless the
    // allocation fails.
    if (BIO_write(SSL_get_rbio(ssl_), scratch.data(), static_cast<int>(n)) != static_cast<int>(n)) {
      ec = asio::error::no_memory;
      co_return false;
    }
    co_return true;
  }
  co_return co_await wait_writable(ssl_error, ec);
}

asio::awaitable<bool> TlsSide::wait_writable(int ssl_error, error_code& ec) {
  // TLS 1.3 writes never read (no renegotiation); a read here would race the reading direction.
  if (ssl_error != SSL_ERROR_WANT_WRITE) {
    ec = asio::error::connection_aborted;
    co_return false;
  }
  co_await socket_.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

asio::awaitable<void> TlsSide::handshake(bool server, error_code& ec, std::string& reason) {
  std::vector<char> scratch(16 * 1024);
  for (;;) {
    if (!socket_.is_open()) {
      ec = asio::error::operation_aborted;
      reason = "timeout";
      co_return;
    }
    ERR_clear_error();
    const int r = server ? SSL_accept(ssl_) : SSL_connect(ssl_);
    if (r == 1) co_return;
    const int err = SSL_get_error(ssl_, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      ec = asio::error::connection_aborted;
      reason = tls_failure_reason(err);
      co_return;
    }
    if (!co_await serve(err, asio::buffer(scratch), ec)) {
      reason = ec == asio::error::operation_aborted ? "timeout" : "closed";
      co_return;
    }
  }
}

asio::awaitable<size_t> TlsSide::read_some(asio::mutable_buffer b, error_code& ec) {
  for (;;) {
    ERR_clear_error();
    size_t n = 0;
    const int r = SSL_read_ex(ssl_, b.data(), b.size(), &n);
    if (r == 1) {
      // SSL_read hands out one record at a time; take what is already buffered too, so that
      // the other side gets one large write instead of one per 16 KiB record.
      auto* p = static_cast<char*>(b.data());
      while (n < b.size() && SSL_has_pending(ssl_)) {
        size_t more = 0;
        if (SSL_read_ex(ssl_, p + n, b.size() - n, &more) != 1) {
          ERR_clear_error();  // a want-read (or an error the next call will report) ends the batch
          break;
        }
        n += more;
      }
      co_return n;
    }
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_ZERO_RETURN) {
      ec = asio::error::eof;
      co_return 0;
    }
    // The caller's buffer holds the ciphertext until OpenSSL has taken it.
    if (!co_await serve(err, b, ec)) co_return 0;
  }
}

asio::awaitable<void> TlsSide::write_all(asio::const_buffer b, error_code& ec) {
  const auto* p = static_cast<const char*>(b.data());
  size_t left = b.size();
  while (left > 0) {
    ERR_clear_error();
    size_t n = 0;
    const int r = SSL_write_ex(ssl_, p, left, &n);
    if (r == 1) {
      p += n;
      left -= n;
      continue;
    }
    if (!co_await wait_writable(SSL_get_error(ssl_, r), ec)) co_return;
  }
}

asio::awaitable<void> TlsSide::shutdown_send(error_code& ec) {
  for (;;) {
    ERR_clear_error();
    const int r = SSL_shutdown(ssl_);
    if (r >= 0) break;  // 0: our close_notify is out, theirs not yet in; that is the point
    if (!co_await wait_writable(SSL_get_error(ssl_, r), ec)) co_return;
  }
  socket_.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace meshfed::gateway
