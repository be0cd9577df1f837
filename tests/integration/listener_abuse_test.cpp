// Strangers on the network against real broker processes (docs/security.md): idle,
// trickling and never-handshaking connections by the thousand, from many source addresses on
// loopback, while a legitimate client and a legitimate peer keep being served; and each
// listener rule on its own: handshake and header deadlines, the per-source cap, the peer API's
// source ranges, curve-only key exchange, request framing and log escaping.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// A TLS client on a raw socket, for what the project's client will not do: stop half-way,
// trickle, or offer only FFDHE.
class RawTls {
 public:
  RawTls(int fd, const char* groups = nullptr) : fd_(fd) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    if (groups) SSL_CTX_set1_groups_list(ctx_, groups);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd);
  }
  ~RawTls() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool handshake() { return SSL_connect(ssl_) == 1; }
  bool write(std::string_view s) { return SSL_write(ssl_, s.data(), static_cast<int>(s.size())) > 0; }
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (int n; (n = SSL_read(ssl_, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

class ListenerAbuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);  // strangers write to connections the server has closed
    fed_.start_all();
    fed_.connect();
    admin_port_ = fed_.broker("pci").admin_port();
    peer_port_ = fed_.peer_api_port("pci");
  }

  std::unique_ptr<http::HttpsClient> peer_client() {
    http::ClientOptions o =
        http::ClientOptions::verifying("127.0.0.1", peer_port_, fed_.domain("pci").dir / "pki/ca.pem");
    o.cert_file = fed_.domain("internal").dir / "pki/broker.pem";
    o.key_file = fed_.domain("internal").dir / "pki/broker-key.pem";
    o.timeout = std::chrono::seconds(10);
    return std::move(http::HttpsClient::create(o)).value();
  }

  std::string https_exchange(uint16_t port, const std::string& request) {
    RawTls tls(connect_from("127.0.0.1", port));
    if (!tls.handshake() || !tls.write(request)) return "";
    return tls.read_all();
  }

  Federation fed_{std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}}};
  uint16_t admin_port_ = 0;
  uint16_t peer_port_ = 0;
};

TEST_F(ListenerAbuseTest, TwoThousandStrangersDoNotKeepClientsOrPeersOut) {
  // 2,000 strangers from 100 addresses, half on each listener: most never send a ClientHello,
  // a tenth complete TLS and trickle their headers a byte at a time. Whatever the server
  // closes is reopened at once, for as long as the legitimate traffic runs.
  constexpr int kStrangers = 2000;
  auto source_of = [](int i) { return "127.0.0." + std::to_string(2 + i % 100); };
  auto port_of = [&](int i) { return i % 2 ? peer_port_ : admin_port_; };
  std::vector<int> idle(kStrangers, -1);
  std::vector<std::unique_ptr<RawTls>> tricklers;
  for (int i = 0; i < kStrangers; ++i) {
    if (i % 10 == 0) {
      auto t = std::make_unique<RawTls>(connect_from(source_of(i), port_of(i)));
      if (t->fd() >= 0 && t->handshake() && t->write("GET /healthz HTTP/1.1\r\n")) tricklers.push_back(std::move(t));
    } else {
      idle[i] = connect_from(source_of(i), port_of(i));
    }
  }
  std::atomic<bool> done{false};
  std::atomic<int> reopened{0};
  std::thread strangers([&] {
    while (!done) {
      for (auto& t : tricklers) (void)t->write("X");  // one byte per connection per round
      for (int i = 0; i < kStrangers && !done; ++i) {
        if (idle[i] < 0 && i % 10 == 0) continue;
        pollfd p{idle[i], POLLIN, 0};
        if (idle[i] >= 0 && ::poll(&p, 1, 0) == 0) continue;
        if (idle[i] >= 0) ::close(idle[i]);
        idle[i] = connect_from(source_of(i), port_of(i));
        ++reopened;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the trickle rate itself
    }
  });

  std::vector<double> admin_ms, peer_ms;
  int admin_failures = 0, peer_failures = 0;
  std::string first_failure;
  auto failed = [&](const Result<http::ClientResponse>& r, int& failures) {
    ++failures;
    if (first_failure.empty()) first_failure = r ? "status " + std::to_string(r->status) : r.error().message;
  };
  const auto until = Clock::now() + std::chrono::seconds(20);  // past the 10 s header deadline
  while (Clock::now() < until) {
    auto t0 = Clock::now();
    auto admin = fed_.admin("pci");  // a new connection every time: the worst case
    auto health = admin->request("GET", "/healthz");
    (health && health->status == 200
         ? admin_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count())
         : failed(health, admin_failures));
    t0 = Clock::now();
    auto catalog = peer_client()->request("GET", "/federation/v1/catalog");
    (catalog && catalog->status == 200
         ? peer_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count())
         : failed(catalog, peer_failures));
  }
  done = true;
  strangers.join();
  for (int fd : idle) {
    if (fd >= 0) ::close(fd);
  }
  auto summary = [](std::vector<double> v) {
    if (v.empty()) return std::string("none");
    std::sort(v.begin(), v.end());
    return "n=" + std::to_string(v.size()) + " p50=" + std::to_string(v[v.size() / 2]) +
           " ms p99=" + std::to_string(v[v.size() * 99 / 100]) + " ms max=" + std::to_string(v.back()) + " ms";
  };
  // The figures docs/security.md quotes come from this line.
  std::printf("legitimate traffic under %d strangers (%d reopened): admin /healthz %s; peer catalog %s\n", kStrangers,
              reopened.load(), summary(admin_ms).c_str(), summary(peer_ms).c_str());
  EXPECT_EQ(admin_failures, 0) << first_failure;
  EXPECT_EQ(peer_failures, 0) << first_failure;
  EXPECT_GE(admin_ms.size(), 10u);
  EXPECT_GE(peer_ms.size(), 10u);
  EXPECT_GT(reopened.load(), 0);  // the server did close strangers: deadlines and eviction at work
  EXPECT_TRUE(fed_.broker("pci").running());
}

TEST_F(ListenerAbuseTest, HandshakeAndHeaderDeadlinesCloseSlowConnections) {
  const int silent = connect_from("127.0.0.2", admin_port_);
  ASSERT_GE(silent, 0);
  EXPECT_TRUE(closed_by_server(silent, std::chrono::seconds(15)));  // 5 s to finish the handshake
  ::close(silent);
  RawTls slow(connect_from("127.0.0.2", admin_port_));
  ASSERT_TRUE(slow.handshake());
  ASSERT_TRUE(slow.write("GET /healthz HTTP/1.1\r\nHost: x\r\n"));     // and never the blank line
  EXPECT_TRUE(closed_by_server(slow.fd(), std::chrono::seconds(20)));  // 10 s for the headers
}

TEST_F(ListenerAbuseTest, OneSourceHoldsAtMostItsShareOfTheAdminListener) {
  std::vector<int> fds;
  for (int i = 0; i < 40; ++i) fds.push_back(connect_from("127.0.0.3", admin_port_));
  // Counted all at once, well inside the 5 s handshake deadline that would close the rest.
  auto closed = [&] {
    int n = 0;
    for (int fd : fds) n += closed_by_server(fd, std::chrono::milliseconds(0));
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return closed() >= 40 - 32; }, std::chrono::seconds(2)));
  EXPECT_EQ(closed(), 40 - 32);  // admin.max_connections_per_source
  // Another address is unaffected.
  auto admin = fed_.admin("pci");
  EXPECT_EQ(admin->request("GET", "/healthz")->status, 200);
  for (int fd : fds) ::close(fd);
  // Each refusal is counted; the log has one line for them all (the source chose how many).
  EXPECT_EQ(fed_.metric("pci", "meshfed_connections_refused_total{listener=\"admin\",reason=\"per_source\"}"), 8);
  const std::string log = fed_.broker("pci").log();
  const std::string line = "admin: refusing a connection from 127.0.0.3";
  const auto first = log.find(line);
  EXPECT_NE(first, std::string::npos);
  EXPECT_EQ(log.find(line, first + 1), std::string::npos) << "one line per source per minute";
}

TEST_F(ListenerAbuseTest, ThePeerApiClosesSourcesOutsideEveryPeersRangeBeforeTls) {
  auto& pci = fed_.domain("pci");
  pci.config["peers"][0]["source_cidrs"] = {"127.0.0.1/32"};
  pci.save_config();
  fed_.broker("pci").signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] {
    const int fd = connect_from("127.0.0.9", peer_port_);
    const bool closed = fd >= 0 && closed_by_server(fd, std::chrono::milliseconds(500));
    if (fd >= 0) ::close(fd);
    return closed;
  }));
  EXPECT_EQ(peer_client()->request("GET", "/federation/v1/catalog")->status, 200);  // 127.0.0.1 is in range
}

TEST_F(ListenerAbuseTest, OnlyCurvesAreOfferedForKeyExchange) {
  for (uint16_t port : {admin_port_, peer_port_}) {
    RawTls ffdhe(connect_from("127.0.0.1", port), "ffdhe8192:ffdhe2048");
    EXPECT_FALSE(ffdhe.handshake()) << port;
    ERR_clear_error();
    for (const char* group : {"X25519", "P-256", "P-384"}) {
      RawTls curve(connect_from("127.0.0.1", admin_port_), group);
      EXPECT_TRUE(curve.handshake()) << group;
    }
  }
}

TEST_F(ListenerAbuseTest, AmbiguousFramingAndForgedLogLinesAreRefused) {
  for (const char* te : {"chunked, identity", "xchunked", "identity"}) {
    const std::string answer = https_exchange(
        admin_port_, std::string("POST /api/v1/exports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n") +
                         "Transfer-Encoding: " + te + "\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << te << ": " << answer;
    EXPECT_NE(answer.find("Transfer-Encoding must be"), std::string::npos) << answer;
  }
  for (const char* hosts : {"", "Host: a\r\nHost: b\r\n"}) {
    const std::string answer =
        https_exchange(admin_port_, std::string("GET /healthz HTTP/1.1\r\n") + hosts + "Connection: close\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
    EXPECT_NE(answer.find("exactly one Host"), std::string::npos) << answer;
  }
  const std::string old_client = https_exchange(admin_port_, "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old_client.rfind("HTTP/1.0 200", 0), 0u) << old_client;  // HTTP/1.0 has no Host rule
  const std::string not_allowed =
      https_exchange(admin_port_, "DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(not_allowed.rfind("HTTP/1.1 405", 0), 0u) << not_allowed;
  EXPECT_NE(not_allowed.find("method DELETE is not allowed on /healthz"), std::string::npos) << not_allowed;
  EXPECT_EQ(not_allowed.find("internal error"), std::string::npos) << not_allowed;

  (void)https_exchange(admin_port_,
                       "GET /api/v1/exports/x%0a2026-01-01T00:00:00.000Z%20info%20forged HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n");
  ASSERT_TRUE(wait_until([&] { return fed_.broker("pci").log().find("forged") != std::string::npos; }));
  const std::string log = fed_.broker("pci").log();
  EXPECT_EQ(log.find("\n2026-01-01T00:00:00.000Z info forged"), std::string::npos) << log;
  EXPECT_NE(log.find("/api/v1/exports/x\\n2026-01-01"), std::string::npos) << log;
}

TEST_F(ListenerAbuseTest, StrictJsonBodies) {
  auto admin = fed_.admin("pci");
  const std::string alice = fed_.domain("pci").tokens["alice"];
  auto post = [&](const std::string& body) {
    return admin->request("POST", "/api/v1/exports",
                          {{"Authorization", "Bearer " + alice}, {"Content-Type", "application/json"}}, body);
  };
  const std::string good =
      R"({"mesh": "default", "service": "payments-api", "port": 8443, "peers": ["internal"], "reason": "x"})";
  for (
      const auto& [body, words] : std::vector<std::pair<std::string, std::string>>{
          {good + std::string("\0garbage", 8), "NUL byte"},
          {R"({"mesh": "default", "mesh": "other", "service": "payments-api", "port": 8443, "peers": ["internal"], "reason": "x"})",
           "twice"},
          {R"({"mesh": "default", "service": "payments-api", "port": 8443, "peers": ["internal"], "reason": "x", "ttl_s": 1e400})",
           "out of range"},
          {std::string(20, '[') + std::string(20, ']'), "nested deeper"}}) {
    auto r = post(body);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << words << ": " << r->body;
    EXPECT_NE(r->body.find(words), std::string::npos) << r->body;
  }
  auto listed = admin->request("GET", "/api/v1/exports", {{"Authorization", "Bearer " + alice}});
  EXPECT_EQ(json::parse(listed->body)["items"].size(), 0u);  // nothing was created
}

}  // namespace
}  // namespace meshfed::testing
