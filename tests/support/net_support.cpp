#include "support/net_support.hpp"
#include "support/test_support.hpp"

#include "meshfed/core/text.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <csignal>
#include <random>
#include <set>
#include <stdexcept>

#include "meshfed/http/client.hpp"

namespace meshfed::testing {
namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A listening TCP socket on `a` (port 0: the kernel's choice, written to `port`), or throws
// naming `who`.
int listen_on(sockaddr_in a, int backlog, uint16_t& port, const std::string& who) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, backlog) != 0) {
    ::close(fd);
    throw std::runtime_error(who + " cannot listen");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

bool port_free(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto a = loopback(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

bool read_exact(int fd, char* out, size_t n) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, out, n, 0);
    if (r <= 0) return false;
    out += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

std::string endpoint_text(const unsigned char* ip, size_t ip_len, const unsigned char* port) {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(ip_len == 4 ? AF_INET : AF_INET6, ip, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string((port[0] << 8) | port[1]);
}

}  // namespace

bool enter_netns(const std::string& name) {
  const int fd = ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
  ::close(fd);
  return ok;
}

void run_in_netns(const std::string& name, const std::function<void()>& fn) {
  std::exception_ptr failure;
  std::thread t([&] {
    try {
      if (!enter_netns(name)) throw std::runtime_error("cannot enter network namespace " + name);
      fn();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  t.join();
  if (failure) std::rethrow_exception(failure);
}

// Below the kernel's ephemeral range, so that no outgoing connection of a concurrently running
// test can take a port between this check and the bind of the process it is meant for.
static int first_ephemeral_port() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  range >> low;
  return low;
}

uint16_t free_port_range(int count) {
  std::mt19937 rng(std::random_device{}());
  const int highest_base = std::max(first_ephemeral_port(), 12000) - count - 1;
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto base = static_cast<uint16_t>(std::uniform_int_distribution<int>(10000, highest_base)(rng));
    bool ok = true;
    for (int i = 0; i < count && ok; ++i) ok = port_free(static_cast<uint16_t>(base + i));
    if (ok) return base;
  }
  throw std::runtime_error("no free loopback port range");
}

std::optional<ProxyHeader> parse_proxy_v2(const std::string& data, size_t& consumed) {
  static const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);
  if (data.size() < 16 || data.compare(0, 12, kSig) != 0 || static_cast<uint8_t>(data[12]) != 0x21) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t len = (p[14] << 8) | p[15];
  if (data.size() < 16 + len) return std::nullopt;
  const size_t ip_len = p[13] == 0x11 ? 4 : p[13] == 0x21 ? 16 : 0;
  if (ip_len == 0 || len < 2 * ip_len + 4) return std::nullopt;
  ProxyHeader h;
  const unsigned char* body = p + 16;
  h.source = endpoint_text(body, ip_len, body + 2 * ip_len);
  h.destination = endpoint_text(body + ip_len, ip_len, body + 2 * ip_len + 2);
  for (size_t at = 2 * ip_len + 4; at + 3 <= len;) {
    const size_t vlen = (body[at + 1] << 8) | body[at + 2];
    if (at + 3 + vlen > len) return std::nullopt;
    h.tlvs[body[at]] = std::string(reinterpret_cast<const char*>(body + at + 3), vlen);
    at += 3 + vlen;
  }
  consumed = 16 + len;
  return h;
}

SynDroppingListener::SynDroppingListener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 0) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("SynDroppingListener: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(a.sin_port);
  // Connections never accepted fill the queue (a backlog of 0 holds one); the rest of these
  // stay in SYN_SENT themselves, as the connects of the test will.
  for (int i = 0; i < 4; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    fillers_.push_back(c);
    (void)::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
}

SynDroppingListener::~SynDroppingListener() {
  for (const int c : fillers_) ::close(c);
  ::close(fd_);
}

EchoServer::EchoServer(Mode mode, bool any_address) : mode_(mode) {
  auto a = loopback(0);
  if (any_address) a.sin_addr.s_addr = htonl(INADDR_ANY);
  listen_fd_ = listen_on(a, 128, port_, "echo server");
  acceptor_ = std::thread([this] {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0 || stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      ++connections_;
      std::lock_guard lock(mu_);
      reap();
      auto done = std::make_shared<std::atomic<bool>>(false);
      workers_.push_back({fd, std::thread([this, fd, done] {
                            serve(fd);
                            *done = true;
                          }),
                          done});
    }
  });
}

FreezableProxy::FreezableProxy(uint16_t target_port) : target_(target_port) {
  if (::pipe(wake_) != 0) throw std::runtime_error("proxy: no pipe");
  listen_fd_ = listen_on(loopback(0), 128, port_, "proxy");
  thread_ = std::thread([this] { run(); });
}

FreezableProxy::~FreezableProxy() {
  (void)!::write(wake_[1], "x", 1);
  thread_.join();
  for (const auto& [a, b] : pairs_) {
    ::close(a);
    ::close(b);
  }
  for (const int fd : {listen_fd_, wake_[0], wake_[1]}) ::close(fd);
}

void FreezableProxy::run() {
  for (;;) {
    std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}};
    if (!frozen_) {
      fds.push_back({listen_fd_, POLLIN, 0});
      for (const auto& [a, b] : pairs_) {
        fds.push_back({a, POLLIN, 0});
        fds.push_back({b, POLLIN, 0});
      }
    }
    if (::poll(fds.data(), fds.size(), 100) < 0) return;
    if (fds[0].revents) return;
    if (frozen_) continue;  // what arrives waits in the kernel's buffers, unread and unanswered
    std::set<int> closed;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == listen_fd_) {
        const int client = ::accept(listen_fd_, nullptr, nullptr);
        const int upstream = connect_loopback(target_);
        if (client >= 0 && upstream >= 0) {
          pairs_.emplace_back(client, upstream);
        } else {
          if (client >= 0) ::close(client);
          if (upstream >= 0) ::close(upstream);
        }
        continue;
      }
      const int from = fds[i].fd;
      const auto pair = std::find_if(pairs_.begin(), pairs_.end(),
                                     [&](const auto& p) { return p.first == from || p.second == from; });
      if (pair == pairs_.end() || closed.count(from)) continue;
      const int to = pair->first == from ? pair->second : pair->first;
      char buf[65536];
      const ssize_t n = ::read(from, buf, sizeof buf);
      if (n <= 0 || !send_all(to, std::string(buf, static_cast<size_t>(n)))) {
        closed.insert(from);
        closed.insert(to);
      }
    }
    std::erase_if(pairs_, [&](const auto& p) {
      if (!closed.count(p.first)) return false;
      ::close(p.first);
      ::close(p.second);
      return true;
    });
  }
}

void EchoServer::reap() {
  std::erase_if(workers_, [](Worker& w) {
    if (!*w.done) return false;
    w.thread.join();
    ::close(w.fd);
    return true;
  });
}

EchoServer::~EchoServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<Worker> workers;
  {
    std::lock_guard lock(mu_);
    for (auto& w : workers_) ::shutdown(w.fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& w : workers) {
    w.thread.join();
    ::close(w.fd);
  }
}

std::vector<ProxyHeader> EchoServer::headers() const {
  std::lock_guard lock(mu_);
  return headers_;
}

void EchoServer::serve(int fd) {
  if (mode_ == Mode::kNeverRead) {
    while (!stopping_) {  // until the peer hangs up, without reading a byte
      pollfd p{fd, POLLRDHUP, 0};
      ::poll(&p, 1, 200);
      if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) break;
    }
    return;
  }
  std::string pending;
  if (mode_ == Mode::kProxyThenEcho) {
    char head[16];
    if (!read_exact(fd, head, sizeof head)) return;
    pending.assign(head, sizeof head);
    const size_t len = (static_cast<unsigned char>(head[14]) << 8) | static_cast<unsigned char>(head[15]);
    std::string rest(len, '\0');
    if (!read_exact(fd, rest.data(), len)) return;
    pending += rest;
    size_t consumed = 0;
    auto h = parse_proxy_v2(pending, consumed);
    std::lock_guard lock(mu_);
    headers_.push_back(h.value_or(ProxyHeader{"unparsable", "", {}}));
  }
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    if (!send_all(fd, std::string(buf, static_cast<size_t>(n)))) break;
  }
  ::shutdown(fd, SHUT_WR);
}

int connect_from(const std::string& source, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool closed_by_server(int fd, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0))) > 0) {
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
    }
    if (left <= 0) return false;
  }
}

struct HttpsFixture::Impl {
  boost::asio::io_context io;
  std::shared_ptr<http::TlsContext> ctx;
  std::unique_ptr<http::HttpServer> server;
  std::thread loop;
};

HttpsFixture::HttpsFixture(const std::filesystem::path& cert, const std::filesystem::path& key, http::Handler handler,
                           http::ServerLimits limits)
    : impl_(std::make_unique<Impl>()) {
  auto ctx = http::make_server_context({cert, key, true, nullptr, nullptr});  // as a peer API
  if (!ctx) throw std::runtime_error(ctx.error().message);
  impl_->ctx = *ctx;
  impl_->server = std::make_unique<http::HttpServer>(
      impl_->io, [impl = impl_.get()] { return impl->ctx; }, std::move(handler),
      [](const Error& e) { return http::Response{500, "text/plain", {}, e.message, "", {}}; },
      [](const std::string&, const std::string&, std::function<void()> job) { job(); }, limits);
  if (auto st = impl_->server->listen({"127.0.0.1", 0}); !st) throw std::runtime_error(st.error().message);
  impl_->loop = std::thread([impl = impl_.get()] { impl->io.run(); });
}

HttpsFixture::~HttpsFixture() {
  boost::asio::post(impl_->io, [impl = impl_.get()] {
    impl->server->stop();
    impl->io.stop();
  });
  impl_->loop.join();
}

uint16_t HttpsFixture::port() const { return impl_->server->port(); }
int HttpsFixture::open_connections() const { return impl_->server->open_connections(); }
void* HttpsFixture::native_context() const { return impl_->ctx->native_handle(); }
void HttpsFixture::set_identity(std::function<std::string(ssl_st*)> identify) {
  impl_->server->set_identity(std::move(identify));
}

HttpFixture::HttpFixture(std::string body) : body_(std::move(body)) {
  listen_fd_ = listen_on(loopback(0), 16, port_, "http fixture");
  thread_ = std::thread([this] { run(); });
}

HttpFixture::~HttpFixture() {
  stopping_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void HttpFixture::set_body(std::string body) {
  std::lock_guard lock(mu_);
  body_ = std::move(body);
}

void HttpFixture::run() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      pollfd r{fd, POLLIN, 0};
      if (::poll(&r, 1, 2000) <= 0) break;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string body;
    {
      std::lock_guard lock(mu_);
      body = body_;
    }
    ++requests_;
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    ::close(fd);
  }
}

int connect_loopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t at = 0;
  while (at < data.size()) {
    const ssize_t n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

std::optional<HttpAnswer> read_answer(int fd, std::string& buffered) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto fill = [&] {
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0 || std::chrono::steady_clock::now() > deadline) return false;
    buffered.append(chunk, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  while ((end = buffered.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return std::nullopt;
  }
  HttpAnswer a;
  a.head = buffered.substr(0, end);
  a.status = std::stoi(a.head.substr(9, 3));
  size_t length = 0;
  for (const auto& line : split(a.head, '\n')) {
    if (line.size() > 15 && strncasecmp(line.c_str(), "content-length:", 15) == 0) length = std::stoul(line.substr(15));
  }
  while (buffered.size() < end + 4 + length) {
    if (!fill()) return std::nullopt;
  }
  a.body = buffered.substr(end + 4, length);
  buffered.erase(0, end + 4 + length);
  return a;
}

std::string read_until_eof(int fd, std::chrono::milliseconds timeout, bool* clean_eof) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[64 * 1024];
  if (clean_eof) *clean_eof = false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return out;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 && clean_eof) *clean_eof = true;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

int live_connection(uint16_t port) {
  const int fd = connect_loopback(port);
  char c;
  if (fd >= 0 && send_all(fd, "x") && ::recv(fd, &c, 1, MSG_WAITALL) == 1) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

std::string echo_round_trip(uint16_t port, const std::string& data) {
  const int fd = connect_loopback(port);
  if (fd < 0) return "(connect failed)";
  std::thread writer([&] {
    send_all(fd, data);
    ::shutdown(fd, SHUT_WR);
  });
  std::string back = read_until_eof(fd, std::chrono::seconds(60));
  writer.join();
  ::close(fd);
  return back;
}

namespace {

SSL_CTX* probe_context(const std::filesystem::path& cert, const std::filesystem::path& key) {
  std::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes with send(); a refused probe must not kill the test
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // the probe tests the server's checks, not ours
  if (!cert.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx, cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM);
  }
  return ctx;
}

// Connects and completes the handshake; null on failure (the connection is then closed).
SSL* probe_connect(SSL_CTX* ctx, uint16_t port, const std::string& sni, int& fd) {
  fd = connect_loopback(port);
  if (fd < 0) return nullptr;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (SSL_connect(ssl) == 1) return ssl;
  SSL_free(ssl);
  ::close(fd);
  fd = -1;
  return nullptr;
}

std::string last_tls_error() {
  const unsigned long e = ERR_peek_last_error();
  const char* r = e ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return r ? r : "";
}

}  // namespace

ProbeResult tls_probe(uint16_t port, const std::filesystem::path& cert, const std::filesystem::path& key,
                      const std::string& sni, const std::string& payload) {
  ProbeResult r;
  SSL_CTX* ctx = probe_context(cert, key);
  int fd = -1;
  if (SSL* ssl = probe_connect(ctx, port, sni, fd)) {
    r.handshake_ok = true;
    SSL_write(ssl, payload.data(), static_cast<int>(payload.size()));
    SSL_shutdown(ssl);  // half-close: the echo service answers and ends
    char buf[256];
    for (;;) {
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      r.echoed.append(buf, static_cast<size_t>(n));
    }
    SSL_free(ssl);
    ::close(fd);
  }
  r.error = last_tls_error();
  SSL_CTX_free(ctx);
  return r;
}

std::string after_key_updates(uint16_t port, const std::filesystem::path& cert, const std::filesystem::path& key,
                              int key_updates, const std::string& request) {
  SSL_CTX* ctx = probe_context(cert, key);
  int fd = -1;
  std::string answer;
  if (SSL* ssl = probe_connect(ctx, port, "", fd)) {
    bool sent = true;
    for (int i = 0; i < key_updates && sent; ++i) {
      sent = SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 && SSL_do_handshake(ssl) == 1;
    }
    if (sent && SSL_write(ssl, request.data(), static_cast<int>(request.size())) > 0) {
      char buf[4096];
      for (;;) {
        const int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) break;
        answer.append(buf, static_cast<size_t>(n));
        if (answer.find("\r\n\r\n") != std::string::npos) break;  // the head is enough
      }
    }
    ERR_clear_error();
    SSL_free(ssl);
    ::close(fd);
  }
  SSL_CTX_free(ctx);
  return answer;
}

TlsHold::TlsHold(uint16_t port, const std::filesystem::path& cert, const std::filesystem::path& key,
                 const std::string& sni) {
  auto* ctx = probe_context(cert, key);
  ctx_ = ctx;
  auto* ssl = probe_connect(ctx, port, sni, fd_);
  ssl_ = ssl;
  char c = 0;
  echoed_ = ssl && SSL_write(ssl, "x", 1) == 1 && SSL_read(ssl, &c, 1) == 1 && c == 'x';
}

TlsHold::~TlsHold() {
  if (ssl_) SSL_free(static_cast<SSL*>(ssl_));
  if (fd_ >= 0) ::close(fd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

bool TlsHold::ended_within(std::chrono::milliseconds timeout) {
  if (!ssl_) return true;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  const int n = SSL_read(static_cast<SSL*>(ssl_), &c, 1);
  const int err = SSL_get_error(static_cast<SSL*>(ssl_), n);
  ERR_clear_error();
  // A receive timeout shows as "want read" (or EAGAIN); anything else is the server ending it.
  const bool timed_out =
      n <= 0 && (err == SSL_ERROR_WANT_READ || (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)));
  return !timed_out;
}

}  // namespace meshfed::testing

namespace meshfed::testing {

KumaEmulator::KumaEmulator(const std::filesystem::path& dir, const std::string& version) {
  std::filesystem::create_directories(dir);
  const auto port_file = dir / "kuma.port";
  const auto log = dir / "kuma.log";
  const std::string script = std::string(MESHFED_SOURCE_DIR) + "/tests/kuma/kuma_emulator.py";
  pid_ = ::fork();
  if (pid_ == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    ::execlp("python3", "python3", script.c_str(), "--port", "0", "--token", token_.c_str(), "--version",
             version.c_str(), "--port-file", port_file.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (!wait_until([&] { return std::filesystem::exists(port_file); })) {
    throw std::runtime_error("kuma emulator did not start");
  }
  std::ifstream in(port_file);
  int port = 0;
  in >> port;
  port_ = static_cast<uint16_t>(port);
}

KumaEmulator::~KumaEmulator() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::pair<int, nlohmann::json> KumaEmulator::call(const std::string& method, const std::string& path,
                                                  const std::optional<nlohmann::json>& body) {
  http::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.plain = true;
  auto c = http::HttpsClient::create(o);
  std::map<std::string, std::string> headers{{"Authorization", "Bearer " + token_}};
  if (body) headers["Content-Type"] = "application/json";
  auto res = (*c)->request(method, path, headers, body ? body->dump() : "");
  if (!res) throw std::runtime_error("kuma emulator: " + res.error().message);
  return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
}

nlohmann::json KumaEmulator::serve_domain(const std::filesystem::path& domain_dir) {
  call("PUT", "/_emulator/meshes/default", nlohmann::json{{"meshServices", {{"mode", "Exclusive"}}}});
  zone_meshservice("zone-1", "default", "payments-api", 8443);
  write_file(domain_dir / "kuma-token", token_ + "\n");
  return {{"type", "kuma"},
          {"url", url()},
          {"token_file", "kuma-token"},
          {"meshes", {"default"}},
          {"import_mesh", "default"},
          {"ingress_zone", "zone-1"},
          {"poll_interval_s", 1}};
}

void KumaEmulator::zone_meshservice(const std::string& zone, const std::string& mesh, const std::string& name, int port,
                                    const std::string& protocol) {
  call("PUT", "/_emulator/zone/" + zone + "/meshes/" + mesh + "/meshservices/" + name,
       nlohmann::json{{"spec", {{"ports", {{{"port", port}, {"targetPort", port}, {"appProtocol", protocol}}}}}}});
}

void KumaEmulator::zone_dataplane(const std::string& zone, const std::string& mesh, const std::string& name,
                                  const std::string& service, int port) {
  call("PUT", "/_emulator/zone/" + zone + "/meshes/" + mesh + "/dataplanes/" + name,
       nlohmann::json{
           {"networking",
            {{"address", "10.0.0.5"}, {"inbound", {{{"port", port}, {"tags", {{"kuma.io/service", service}}}}}}}}});
}

void KumaEmulator::outage(int status, int count) {
  call("POST", "/_emulator/outage", nlohmann::json{{"status", status}, {"count", count}});
}

}  // namespace meshfed::testing
