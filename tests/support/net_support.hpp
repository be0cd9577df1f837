// Sockets for the data-plane tests: a real echo service (optionally reading a PROXY v2 header
// first), blocking TCP clients, a raw mTLS probe of an ingress, and free loopback ports.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshfed/http/server.hpp"

namespace meshfed::testing {

// Moves the calling thread into network namespace `name` (/var/run/netns/<name>).
bool enter_netns(const std::string& name);
// Runs `fn` on a thread inside network namespace `name`, and waits for it; rethrows its exception.
void run_in_netns(const std::string& name, const std::function<void()>& fn);

// `count` consecutive loopback ports that nothing listens on right now.
uint16_t free_port_range(int count);

// A listener on 127.0.0.1 whose accept queue is full: Linux drops further SYNs, as a
// blackholed peer's network does, so a connect to it waits in SYN_SENT (the kernel retries
// for about 127 s).
class SynDroppingListener {
 public:
  SynDroppingListener();
  ~SynDroppingListener();
  SynDroppingListener(const SynDroppingListener&) = delete;
  SynDroppingListener& operator=(const SynDroppingListener&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> fillers_;
};

// What a PROXY v2 header said, as the service behind the ingress received it.
struct ProxyHeader {
  std::string source;       // ip:port
  std::string destination;  // ip:port
  std::map<uint8_t, std::string> tlvs;
};
// Parses a complete PROXY v2 header at the start of `data`; its length in `consumed`.
std::optional<ProxyHeader> parse_proxy_v2(const std::string& data, size_t& consumed);

// A TCP echo service on 127.0.0.1, one thread per connection. Echoes until the client's end
// of stream, then ends its own (so a half-close travels back).
class EchoServer {
 public:
  enum class Mode { kEcho, kProxyThenEcho, kNeverRead };
  // Listens on 127.0.0.1, or on every address with `any_address` (reachable from other hosts).
  explicit EchoServer(Mode mode = Mode::kEcho, bool any_address = false);
  ~EchoServer();
  uint16_t port() const { return port_; }
  std::vector<ProxyHeader> headers() const;  // kProxyThenEcho: one per connection
  int connections() const { return connections_.load(); }

 private:
  void serve(int fd);
  void reap();  // joins finished connections and closes their sockets; under mu_
  Mode mode_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  struct Worker {
    int fd = -1;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  mutable std::mutex mu_;
  std::vector<Worker> workers_;
  std::vector<ProxyHeader> headers_;
};

// A TCP forwarder from 127.0.0.1 to `target_port` on 127.0.0.1, standing in for a network path
// that can go silent: after freeze() it forwards nothing and closes nothing, as a cut cable or a
// dropped route looks to both ends.
class FreezableProxy {
 public:
  explicit FreezableProxy(uint16_t target_port);
  ~FreezableProxy();
  uint16_t port() const { return port_; }
  void freeze() { frozen_ = true; }

 private:
  void run();
  uint16_t target_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> frozen_{false};
  std::vector<std::pair<int, int>> pairs_;  // (accepted, to the target): the forwarding thread's own
  std::thread thread_;                      // last: started once the rest exists
};

// meshfed's own HTTPS server on 127.0.0.1, on an event loop of its own in this process, for
// tests that play a peer broker or a control plane. `handler` runs inline on the server's
// connection threads: keep it quick and thread-safe.
class HttpsFixture {
 public:
  HttpsFixture(const std::filesystem::path& cert, const std::filesystem::path& key, http::Handler handler,
               http::ServerLimits limits = {});
  ~HttpsFixture();
  uint16_t port() const;
  int open_connections() const;
  // The SSL_CTX* every connection uses, to install OpenSSL callbacks before clients connect.
  void* native_context() const;
  // Who each connection is, as a peer API names its callers (HttpServer::set_identity); call
  // before clients connect.
  void set_identity(std::function<std::string(ssl_st*)> identify);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A plain HTTP/1.1 server on 127.0.0.1 answering every GET with the current body, as a
// Prometheus exporter (Envoy's /stats/prometheus, an application) does.
class HttpFixture {
 public:
  explicit HttpFixture(std::string body);
  ~HttpFixture();
  uint16_t port() const { return port_; }
  void set_body(std::string body);
  int requests() const { return requests_.load(); }

 private:
  void run();
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::string body_;
  std::thread thread_;
};

// A blocking TCP connection to 127.0.0.1:`port`, or -1.
int connect_loopback(uint16_t port);
// A TCP connection to 127.0.0.1:`port` from `source` (any 127/8 address); -1 on failure.
int connect_from(const std::string& source, uint16_t port);
// Whether the server has closed `fd`: waits up to `timeout` for EOF or a reset.
bool closed_by_server(int fd, std::chrono::milliseconds timeout);
bool send_all(int fd, const std::string& data);
// One HTTP/1.1 response with a Content-Length (as the tests' services and the ingress send).
struct HttpAnswer {
  int status = 0;
  std::string head;
  std::string body;
};
// Reads one response from `fd`, keeping what follows it in `buffered`; nullopt after 10 s, at end
// of stream or on an error.
std::optional<HttpAnswer> read_answer(int fd, std::string& buffered);
// Reads until end of stream, an error or `timeout`; `clean_eof` says which.
std::string read_until_eof(int fd, std::chrono::milliseconds timeout, bool* clean_eof = nullptr);
// Sends `data`, half-closes, and returns everything read back until end of stream.
std::string echo_round_trip(uint16_t port, const std::string& data);
// A connection to an echo service through `port` that has carried a byte both ways, left open;
// -1 if there is none.
int live_connection(uint16_t port);

// A raw TLS 1.3 client towards an ingress: a chosen certificate and SNI, then one payload.
struct ProbeResult {
  bool handshake_ok = false;
  std::string echoed;  // what came back for "ping" (empty when the connection was closed)
  std::string error;
};
ProbeResult tls_probe(uint16_t port, const std::filesystem::path& cert, const std::filesystem::path& key,
                      const std::string& sni, const std::string& payload = "ping");

// A TLS 1.3 connection that asks for `key_updates` new keys (each answered by the server, which
// is asked to update its own), then sends `request`: what came back before the connection ended.
std::string after_key_updates(uint16_t port, const std::filesystem::path& cert, const std::filesystem::path& key,
                              int key_updates, const std::string& request);

// A held mTLS connection to an ingress: after one echoed byte, waits for the server to end it.
class TlsHold {
 public:
  TlsHold(uint16_t port, const std::filesystem::path& cert, const std::filesystem::path& key, const std::string& sni);
  ~TlsHold();
  bool echoed() const { return echoed_; }  // the connection worked end to end
  // True if the server ended the connection within `timeout`.
  bool ended_within(std::chrono::milliseconds timeout);

 private:
  void* ctx_ = nullptr;
  void* ssl_ = nullptr;
  int fd_ = -1;
  bool echoed_ = false;
};

}  // namespace meshfed::testing

namespace meshfed::testing {

// The Kuma API emulator (tests/kuma/kuma_emulator.py) as a child process on loopback.
class KumaEmulator {
 public:
  explicit KumaEmulator(const std::filesystem::path& dir, const std::string& version = "2.14.3");
  ~KumaEmulator();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& token() const { return token_; }
  // A Kuma API call as admin: status and parsed body (null when empty or not JSON).
  std::pair<int, nlohmann::json> call(const std::string& method, const std::string& path,
                                      const std::optional<nlohmann::json>& body = std::nullopt);
  // A MeshService as zone `zone` would sync it to Global.
  void zone_meshservice(const std::string& zone, const std::string& mesh, const std::string& name, int port,
                        const std::string& protocol = "tcp");
  void zone_dataplane(const std::string& zone, const std::string& mesh, const std::string& name,
                      const std::string& service, int port);
  void outage(int status, int count);
  // Mesh "default" (MeshServices Exclusive) with payments-api:8443 synced from zone-1, as a
  // domain's Kuma looks to its broker; the domain's control_plane config for it, its token
  // written to `domain_dir`/kuma-token.
  nlohmann::json serve_domain(const std::filesystem::path& domain_dir);

 private:
  int pid_ = -1;
  uint16_t port_ = 0;
  std::string token_ = "kuma-admin-token";
};

}  // namespace meshfed::testing
