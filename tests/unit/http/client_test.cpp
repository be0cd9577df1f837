#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "meshfed/http/client.hpp"
#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::http {
namespace {

std::unique_ptr<HttpsClient> plain_client(uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(3600)) {
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.plain = true;
  o.timeout = timeout;  // by default far longer than the test may take
  return std::move(HttpsClient::create(o)).value();
}

TEST(HttpsClient, AServerThatAcceptsAndNeverAnswersFailsTheRequestAtItsDeadline) {
  testing::EchoServer silent(testing::EchoServer::Mode::kNeverRead);
  auto client = plain_client(silent.port(), std::chrono::seconds(1));
  auto res = client->request("GET", "/");  // without the deadline this would never return
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().message,
            "no complete response from 127.0.0.1:" + std::to_string(silent.port()) + " within the 1 s deadline");
}

TEST(HttpsClient, AnAbortBeforeTheConnectionExistsCancelsTheRequestAndOnlyThatOne) {
  testing::HttpFixture server("up 1\n");
  auto client = plain_client(server.port());
  // What an abort() during connect looks like to request(): no socket to shut down yet.
  client->abort();
  auto cancelled = client->request("GET", "/metrics");
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(server.requests(), 0);  // nothing was sent: a long-poll would otherwise run its course
  auto next = client->request("GET", "/metrics");
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->body, "up 1\n");
}

TEST(HttpsClient, AConnectThatTheNetworkNeverAnswersEndsAtTheConnectDeadline) {
  testing::SynDroppingListener blackhole;
  ClientOptions o = ClientOptions::verifying("127.0.0.1", blackhole.port(), "/nonexistent/ca.pem");
  o.plain = true;
  o.connect_timeout = std::chrono::seconds(1);
  auto client = std::move(HttpsClient::create(o)).value();
  auto res = client->request("GET", "/");  // without the deadline: the test's own timeout
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(res.error().message,
            "no connection to 127.0.0.1:" + std::to_string(blackhole.port()) + " within the 1 s connect deadline");
}

TEST(HttpsClient, AnAbortBreaksOffAConnectInProgress) {
  testing::SynDroppingListener blackhole;
  auto client = plain_client(blackhole.port());
  std::atomic<bool> done{false};
  Result<ClientResponse> res = make_error(ErrorCode::kInternal, "not run");
  std::thread caller([&] {
    res = client->request("GET", "/");
    done = true;
  });
  // abort() may come before the connect starts (then request() sees the flag) or during it
  // (then it shuts the connecting socket down): either way the request ends, cancelled.
  EXPECT_TRUE(testing::wait_until([&] {
    client->abort();
    return done.load();
  }));
  caller.join();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, ErrorCode::kCancelled) << res.error().message;
}

TEST(InterruptibleRequests, StopBreaksOffTheRequestInFlightAndRefusesLaterOnes) {
  testing::EchoServer silent(testing::EchoServer::Mode::kNeverRead);
  auto client = plain_client(silent.port());
  InterruptibleRequests requests;
  std::atomic<bool> done{false};
  Result<ClientResponse> res = make_error(ErrorCode::kInternal, "not run");
  std::thread caller([&] {
    res = requests.request(*client, "GET", "/metrics");
    done = true;
  });
  ASSERT_TRUE(testing::wait_until([&] { return silent.connections() == 1; }));
  requests.stop();
  EXPECT_TRUE(testing::wait_until([&] { return done.load(); }));  // well before the client's own timeout
  caller.join();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, ErrorCode::kCancelled);
  auto later = requests.request(*client, "GET", "/metrics");
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(later.error().message, "stopping");
}

TEST(InterruptibleRequests, InterruptBreaksOffOnlyTheRequestInFlight) {
  testing::EchoServer silent(testing::EchoServer::Mode::kNeverRead);
  auto client = plain_client(silent.port());
  InterruptibleRequests requests;
  std::atomic<int> done{0};
  std::vector<Result<ClientResponse>> results;
  std::thread caller([&] {
    for (int i = 0; i < 2; ++i) {
      results.push_back(requests.request(*client, "GET", "/metrics"));
      ++done;
    }
  });
  ASSERT_TRUE(testing::wait_until([&] { return silent.connections() == 1; }));
  requests.interrupt();
  ASSERT_TRUE(testing::wait_until([&] { return done.load() == 1; }));
  ASSERT_TRUE(testing::wait_until([&] { return silent.connections() == 2; }));  // the next one is sent
  requests.stop();
  caller.join();
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
  }
}

}  // namespace
}  // namespace meshfed::http
