// The HTTP/1.1 server of every listener: HTTPS (the admin and peer APIs) or plain HTTP (the
// metrics listener), keep-alive, header and body limits, deadlines on every socket operation,
// admission (net::Admission), graceful stop. The caller's event loop only accepts; each
// connection (its handshake, reads and writes) lives on one of the server's own worker loops,
// so a flood of handshakes never queues on the loop or behind requests. Handlers are plain
// functions of Request to Response; they run on a blocking executor the caller supplies (the
// store thread, or another its route names), so no connection thread waits on a write; only
// quick answers (set_quick_answers) run on the connection's loop.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/config/config.hpp"
#include "meshfed/core/openssl_fwd.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/http/message.hpp"
#include "meshfed/http/tls.hpp"
#include "meshfed/net/admission.hpp"

namespace boost::asio {
class io_context;
}

namespace meshfed::http {

// Everyone who reaches a listener may be hostile (docs/security.md): a connection
// must finish its handshake and then send each request's headers within short deadlines, and
// `admission` bounds who may be open at once (a connection serving a request is busy, the
// others may make room).
struct ServerLimits {
  size_t header_limit = 16 * 1024;
  size_t body_limit = 1024 * 1024;
  std::chrono::seconds handshake_timeout{5};
  std::chrono::seconds header_timeout{10};  // from the handshake, or the previous answer, to a request's last header
  std::chrono::seconds request_timeout{30};
  std::chrono::seconds max_wait{300};  // cap on a long-poll
  int threads = 2;                     // worker threads for connections (handshakes, reads, writes)
  std::string name = "http";           // the listener, in logs and metrics
  net::AdmissionLimits admission{};    // max_connections_per_peer: mutually authenticated listeners only
};

// A listener for scrapers (`metrics.listen`, the gateway's --metrics-listen): few clients,
// small GET requests, public documents.
inline const ServerLimits kScraperLimits{.header_limit = 8 * 1024,
                                         .body_limit = 0,
                                         .header_timeout = std::chrono::seconds(10),
                                         .request_timeout = std::chrono::seconds(10),
                                         .threads = 1,
                                         .name = "metrics",
                                         .admission = {.max_connections = 256, .max_connections_per_source = 16}};

using Handler = std::function<Response(const Request&)>;
// Renders an error the server detects itself (oversized headers or body, malformed request).
using ErrorResponder = std::function<Response(const Error&)>;
// The TLS context for the next connection; a null provider serves plain HTTP.
using ContextProvider = std::function<std::shared_ptr<TlsContext>()>;

class HttpServer {
 public:
  // `run_blocking` null: handlers run on the connection's loop (keep them quick).
  HttpServer(boost::asio::io_context& io, ContextProvider tls, Handler handler, ErrorResponder on_error,
             BlockingRunner run_blocking, ServerLimits limits = {});
  ~HttpServer();

  // Binds and starts accepting. Port 0 picks a free port; see port().
  Status listen(const config::Endpoint& endpoint);
  uint16_t port() const;

  // Mutually authenticated listeners: names the caller of an established TLS connection (an
  // SSL*) for Request::peer. Connections it cannot name are closed.
  void set_identity(std::function<std::string(ssl_st* ssl)> identify);
  // Answers tried on the connection's own loop before a request is handed to `run_blocking`:
  // those that cost a read or two, which a hop to another thread would cost more than. Nothing
  // means the request takes the blocking path. Set before listen().
  void set_quick_answers(std::function<std::optional<Response>(const Request&)> quick);
  // Headers a long-poll's 304 carries besides the handler's, made on the connection's loop as
  // it is sent, so that they say what holds then. Set before listen().
  using Headers = std::vector<std::pair<std::string, std::string>>;
  void set_not_modified_headers(std::function<Headers(const Request&)> make);

  // Who may connect (a source filter, the refusal metric): configure before listen().
  net::Admission& admission();

  // Told about every failed TLS handshake (for a metric and paced logging: the server itself
  // logs each only at debug level, as strangers choose how many there are).
  struct HandshakeFailure {
    std::string reason;   // OpenSSL's or Asio's words
    std::string address;  // the remote address, without the port
    bool credentials;     // the other side's certificate failed verification (not a timeout, a hang-up, an
                          // old protocol, or no certificate)
  };
  void on_handshake_failure(std::function<void(const HandshakeFailure&)> told);

  // After the trust changed (a peer's CA removed or replaced): closes every connection whose
  // certificate set_identity() no longer names as the peer it named at the handshake. Each
  // connection is checked on its own loop, shortly after the call returns. Thread-safe.
  void revalidate_peers();

  // Wakes long-polls waiting on these keys. Thread-safe.
  void notify(const std::vector<std::string>& keys);

  // Stops accepting, closes idle connections, lets in-flight requests finish and then closes
  // their connections. Call on the event loop.
  void stop();
  int open_connections() const;  // thread-safe

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace meshfed::http
