// The HTTPS server's own threading: the event loop only accepts, and each connection's TLS
// handshake runs on the server's workers, so one that stalls holds up no other connection.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "meshfed/http/client.hpp"
#include "meshfed/http/server.hpp"
#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::http {
namespace {

// Holds the first TLS handshake inside the server (in OpenSSL's ClientHello callback, where a
// costly key exchange would spend its time) until the test opens the gate.
struct HandshakeGate {
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
  std::atomic<int> hellos{0};

  static int on_client_hello(SSL*, int*, void* arg) {
    auto* gate = static_cast<HandshakeGate*>(arg);
    if (gate->hellos++ == 0) gate->opened.wait();
    return SSL_CLIENT_HELLO_SUCCESS;
  }
};

std::unique_ptr<testing::HttpsFixture> server_with_gate(const std::filesystem::path& pki, HandshakeGate& gate,
                                                        ServerLimits limits = {}) {
  auto server = std::make_unique<testing::HttpsFixture>(
      pki / "broker.pem", pki / "broker-key.pem",
      [](const Request& r) { return Response{200, "text/plain", {}, "hello " + r.path, "", {}}; }, limits);
  SSL_CTX_set_client_hello_cb(static_cast<SSL_CTX*>(server->native_context()), &HandshakeGate::on_client_hello, &gate);
  return server;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_pki(dir_ / "pki", "dmz"); }
  std::unique_ptr<HttpsClient> client_for(uint16_t port) {
    auto opts = ClientOptions::verifying("127.0.0.1", port, dir_ / "pki" / "ca.pem");
    opts.timeout = std::chrono::seconds(20);  // reached only when the test fails
    return std::move(HttpsClient::create(opts)).value();
  }

  testing::TempDir dir_;
  HandshakeGate gate_;
};

TEST_F(HttpServerTest, AStalledHandshakeHoldsUpNoOtherConnection) {
  auto fixture = server_with_gate(dir_ / "pki", gate_);
  auto& server = *fixture;
  auto& gate = gate_;
  auto client_for = [&] { return HttpServerTest::client_for(server.port()); };

  auto stalled_client = client_for();
  Result<ClientResponse> stalled = make_error(ErrorCode::kInternal, "not run");
  std::atomic<bool> stalled_answered{false};
  std::thread stalled_caller([&] {
    stalled = stalled_client->request("GET", "/first");
    stalled_answered = true;
  });
  ASSERT_TRUE(testing::wait_until([&] { return gate.hellos.load() == 1; }));

  // The first handshake is still held inside the server; a second client is served all the same.
  auto res = client_for()->request("GET", "/second");
  const bool first_still_stalled = !stalled_answered.load();
  gate.open.set_value();
  stalled_caller.join();
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "hello /second");
  EXPECT_TRUE(first_still_stalled);
  ASSERT_TRUE(stalled.ok()) << stalled.error().message;
  EXPECT_EQ(stalled->body, "hello /first");
}

}  // namespace
}  // namespace meshfed::http

namespace meshfed::http {
namespace {

// The per-source cap holds strangers; a connection on which a peer authenticated counts against
// that peer instead, so peers behind one address (a NAT, or every broker on loopback) are not
// refused for each other's connections.
TEST_F(HttpServerTest, AuthenticatedPeersBehindOneAddressDoNotCountAgainstItsCap) {
  testing::HttpsFixture server(
      dir_ / "pki" / "broker.pem", dir_ / "pki" / "broker-key.pem",
      [](const Request&) { return Response{200, "text/plain", {}, "ok", "", {}}; },
      ServerLimits{.admission = {.max_connections_per_source = 2}});
  std::atomic<int> peers{0};
  server.set_identity([&](ssl_st*) { return "peer-" + std::to_string(peers++); });
  std::vector<std::unique_ptr<HttpsClient>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(client_for(server.port()));
    auto res = clients.back()->request("GET", "/");  // each keeps its connection open
    ASSERT_TRUE(res.ok()) << "connection " << i << ": " << res.error().message;
    EXPECT_EQ(res->status, 200);
  }
  EXPECT_EQ(server.open_connections(), 5);
}

// At capacity a new connection evicts one that has sent nothing before one in its handshake,
// even an older one: strangers reconnecting in bursts replace each other, not a client.
TEST_F(HttpServerTest, AtCapacitySilentConnectionsMakeRoomBeforeHandshakingOnes) {
  auto fixture = server_with_gate(dir_ / "pki", gate_,
                                  ServerLimits{.handshake_timeout = std::chrono::seconds(60),
                                               .admission = {.max_connections = 2, .max_connections_per_source = 0}});
  auto& server = *fixture;
  const int first_silent = testing::connect_loopback(server.port());
  ASSERT_GE(first_silent, 0);
  ASSERT_TRUE(testing::wait_until([&] { return server.open_connections() == 1; }));

  auto client = client_for(server.port());
  Result<ClientResponse> handshaking = make_error(ErrorCode::kInternal, "not run");
  std::thread caller([&] { handshaking = client->request("GET", "/client"); });
  ASSERT_TRUE(testing::wait_until([&] { return gate_.hellos.load() == 1; }));  // held mid-handshake

  const int second_silent = testing::connect_loopback(server.port());  // full: the older silent one goes
  ASSERT_GE(second_silent, 0);
  bool clean = false;  // closed well before the 60 s handshake deadline: evicted
  testing::read_until_eof(first_silent, std::chrono::seconds(10), &clean);
  EXPECT_TRUE(clean) << "the first silent connection was not closed";

  const int third_silent = testing::connect_loopback(server.port());  // the second silent one goes, not the client
  ASSERT_GE(third_silent, 0);
  testing::read_until_eof(second_silent, std::chrono::seconds(10), &clean);
  EXPECT_TRUE(clean) << "the second silent connection was not closed";

  gate_.open.set_value();
  caller.join();
  ASSERT_TRUE(handshaking.ok()) << handshaking.error().message;
  EXPECT_EQ(handshaking->body, "hello /client");
  for (int fd : {first_silent, second_silent, third_silent}) ::close(fd);
}

// A client that keeps asking for new keys costs the server a key derivation and a reply each
// time: a connection gets kMaxKeyUpdatesPerConnection of them, fewer leave it serving as
// before, and more end it.
TEST_F(HttpServerTest, AConnectionThatKeepsUpdatingItsKeysIsEndedPastTheCap) {
  testing::HttpsFixture server(dir_ / "pki" / "broker.pem", dir_ / "pki" / "broker-key.pem",
                               [](const Request&) { return Response{200, "text/plain", {}, "ok", "", {}}; });
  const std::string request = "GET /x HTTP/1.1\r\nHost: broker\r\n\r\n";
  const auto& pki = dir_ / "pki";
  EXPECT_EQ(testing::after_key_updates(server.port(), pki / "broker.pem", pki / "broker-key.pem",
                                       kMaxKeyUpdatesPerConnection, request)
                .rfind("HTTP/1.1 200", 0),
            0u);
  EXPECT_EQ(testing::after_key_updates(server.port(), pki / "broker.pem", pki / "broker-key.pem",
                                       kMaxKeyUpdatesPerConnection + 1, request),
            "");
  EXPECT_TRUE(testing::wait_until([&] { return server.open_connections() == 0; }));
}

}  // namespace
}  // namespace meshfed::http

namespace meshfed::http {
namespace {

// Quick answers are given on the connection's own loop: they are served while every request
// handed to the blocking executor waits there (a store thread busy with a long write).
TEST_F(HttpServerTest, QuickAnswersDoNotWaitForTheBlockingExecutor) {
  auto ctx =
      make_server_context({dir_ / "pki" / "broker.pem", dir_ / "pki" / "broker-key.pem", true, nullptr, nullptr});
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  boost::asio::io_context io;
  std::mutex mu;
  std::vector<std::function<void()>> parked;  // the blocking executor, stuck until the test runs them
  HttpServer server(
      io, [&] { return *ctx; },
      [](const Request& r) { return Response{200, "text/plain", {}, "built " + r.path, "", {}}; },
      [](const Error& e) { return Response{500, "text/plain", {}, e.message, "", {}}; },
      [&](const std::string&, const std::string&, std::function<void()> job) {
        std::lock_guard lock(mu);
        parked.push_back(std::move(job));
      });
  server.set_quick_answers([](const Request& r) -> std::optional<Response> {
    if (r.path != "/kept") return std::nullopt;
    return Response{200, "text/plain", {}, "kept", "", {}};
  });
  ASSERT_TRUE(server.listen({"127.0.0.1", 0}).ok());
  std::thread loop([&] { io.run(); });

  Result<ClientResponse> slow = make_error(ErrorCode::kInternal, "not run");
  std::thread slow_caller([&] { slow = client_for(server.port())->request("GET", "/to-build"); });
  ASSERT_TRUE(testing::wait_until([&] {
    std::lock_guard lock(mu);
    return parked.size() == 1;
  }));
  auto quick = client_for(server.port())->request("GET", "/kept");
  ASSERT_TRUE(quick.ok()) << quick.error().message;
  EXPECT_EQ(quick->body, "kept");
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(parked.size(), 1u);  // the quick answer never reached the blocking executor
    for (auto& job : parked) job();
  }
  slow_caller.join();
  ASSERT_TRUE(slow.ok()) << slow.error().message;
  EXPECT_EQ(slow->body, "built /to-build");
  boost::asio::post(io, [&] {
    server.stop();
    io.stop();
  });
  loop.join();
}

}  // namespace
}  // namespace meshfed::http
