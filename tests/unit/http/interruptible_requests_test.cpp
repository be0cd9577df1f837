#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "meshfed/http/client.hpp"
#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::http {
namespace {

std::unique_ptr<HttpsClient> plain_client(uint16_t port) {
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.plain = true;
  o.timeout = std::chrono::seconds(120);  // far longer than the test waits
  return std::move(HttpsClient::create(o)).value();
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
  EXPECT_FALSE(res.ok());
  auto later = requests.request(*client, "GET", "/metrics");
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().message, "stopping");
}

}  // namespace
}  // namespace meshfed::http
