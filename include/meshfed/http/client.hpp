// A blocking HTTPS/1.1 client with keep-alive, for `meshfed ctl`, watchers, tests and
// benchmarks. The server certificate is always verified: against `ca_file`, and its name
// against `host` (DNS name or IP address SAN). Plain HTTP only where the user configured an
// http:// URL (a control plane's API on loopback).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "meshfed/core/mutex.hpp"
#include "meshfed/core/openssl_fwd.hpp"
#include "meshfed/core/result.hpp"

namespace meshfed::http {

struct ClientOptions {
  std::string host;
  uint16_t port = 0;
  std::filesystem::path ca_file;
  std::filesystem::path cert_file;  // optional client certificate
  std::filesystem::path key_file;
  std::chrono::seconds timeout{30};
  // From the first SYN to the end of the TLS handshake (within `timeout`): a peer whose
  // network drops SYNs would otherwise hold the caller for the kernel's ~127 s of retries.
  std::chrono::seconds connect_timeout{5};
  size_t body_limit = 256 * 1024 * 1024;
  // Mutual TLS towards a peer: verifies the server by its SPIFFE identity (on the native
  // SSL_CTX*) instead of `ca_file` and host names; keeps what it refers to alive.
  std::function<void(ssl_ctx_st* ssl_ctx)> configure_tls;
  std::shared_ptr<const void> keep_alive;
  bool plain = false;  // HTTP without TLS

  // The common case: a server verified against `ca_file` and its name or address `host`.
  static ClientOptions verifying(std::string host, uint16_t port, std::filesystem::path ca_file) {
    ClientOptions o;
    o.host = std::move(host);
    o.port = port;
    o.ca_file = std::move(ca_file);
    return o;
  }
};

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  // The certificate the server proved in the handshake (DER), over TLS: what signatures in the
  // answer are checked against.
  std::string server_certificate;
  std::string header(const std::string& name) const;
};

class HttpsClient {
 public:
  static Result<std::unique_ptr<HttpsClient>> create(const ClientOptions& options);
  ~HttpsClient();

  // Sends one request on the kept-alive connection, reconnecting once if it was closed.
  Result<ClientResponse> request(const std::string& method, const std::string& target,
                                 const std::map<std::string, std::string>& headers = {}, const std::string& body = "");

  // Breaks off a request blocked in another thread (it fails with an error). Thread-safe.
  void abort();

 private:
  struct Impl;
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Requests that another thread can break off at once, for background loops that must stop
// promptly: stop() aborts the request in flight, and every later one fails without being sent;
// interrupt() aborts only the one in flight (a long-poll whose question has changed).
class InterruptibleRequests {
 public:
  Result<ClientResponse> request(HttpsClient& client, const std::string& method, const std::string& target,
                                 const std::map<std::string, std::string>& headers = {}, const std::string& body = "");
  void interrupt();
  void stop();

 private:
  Mutex mu_;
  HttpsClient* in_flight_ GUARDED_BY(mu_) = nullptr;
  bool stopped_ GUARDED_BY(mu_) = false;
};

// Parses "https://host:port" into host and port. False if malformed.
bool parse_https_url(const std::string& url, std::string& host, uint16_t& port);
// Parses "http://host:port" or "https://host:port"; `tls` says which.
bool parse_http_url(const std::string& url, bool& tls, std::string& host, uint16_t& port);

}  // namespace meshfed::http
