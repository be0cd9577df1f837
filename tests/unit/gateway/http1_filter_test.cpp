#include "gateway/http1_filter.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace meshfed::gateway {
namespace {

using Want = Http1Filter::Want;

std::shared_ptr<const policy::L7Rules> rules_from(const char* json) {
  auto r = policy::parse_l7(nlohmann::json::parse(json));
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return std::make_shared<const policy::L7Rules>(r ? r.value() : policy::L7Rules{});
}

constexpr const char* kRates = R"({"http": [{"methods": ["GET"], "path": {"prefix": "/v1/rates/"}},
                                            {"methods": ["POST"], "path": {"exact": "/v1/quotes"}}]})";
constexpr const char* kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

class Http1FilterTest : public ::testing::Test {
 protected:
  std::optional<std::shared_ptr<const policy::L7Rules>> rules = rules_from(kRates);
  Http1Filter filter{"exp-1", [this] { return rules; }};

  FilterOutput client(std::string_view bytes) {
    FilterOutput out;
    filter.from_client(bytes, out);
    return out;
  }
  FilterOutput upstream(std::string_view bytes) {
    FilterOutput out;
    filter.from_upstream(bytes, out);
    return out;
  }
};

TEST_F(Http1FilterTest, AnAllowedRequestReachesTheServiceAndItsResponseTheCaller) {
  auto out = client("GET /v1/rates/eur?at=now HTTP/1.1\r\nHost: payments\r\nX-Id: 7\r\n\r\n");
  EXPECT_EQ(out.to_upstream, "GET /v1/rates/eur?at=now HTTP/1.1\r\nHost: payments\r\nX-Id: 7\r\n\r\n");
  EXPECT_EQ(out.to_client, "");
  EXPECT_TRUE(out.refused.empty());
  EXPECT_EQ(filter.want(), Want::kUpstream);

  out = upstream(kOk);
  EXPECT_EQ(out.to_client, kOk);
  EXPECT_EQ(filter.want(), Want::kClient);  // kept alive: the next request is judged too

  out = client("POST /v1/quotes HTTP/1.1\r\nHost: payments\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(out.to_upstream, "POST /v1/quotes HTTP/1.1\r\nHost: payments\r\nContent-Length: 5\r\n\r\nhello");
}

TEST_F(Http1FilterTest, HeadersArrivingInPiecesAreReadWhole) {
  const std::string request = "GET /v1/rates/eur HTTP/1.1\r\nHost: payments\r\nX-Id: 7\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Trace: 1\r\n\r\nok";
  // Cut after the start line, inside a field, and byte by byte.
  for (const size_t cut : {size_t{28}, size_t{35}, size_t{1}}) {
    std::string forwarded, answered;
    for (size_t at = 0; at < request.size(); at += cut) forwarded += client(request.substr(at, cut)).to_upstream;
    EXPECT_EQ(forwarded, request) << "cut " << cut;
    for (size_t at = 0; at < response.size(); at += cut) answered += upstream(response.substr(at, cut)).to_client;
    EXPECT_EQ(answered, response) << "cut " << cut;
    EXPECT_EQ(filter.want(), Want::kClient);
  }
}

TEST_F(Http1FilterTest, ARequestOutsideTheRulesGets403NamingTheExportAndTheConnectionGoesOn) {
  auto out = client("POST /v1/rates/x HTTP/1.1\r\nHost: p\r\nContent-Length: 4\r\n\r\nbody");
  EXPECT_EQ(out.to_upstream, "");
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].status, 403);
  EXPECT_EQ(out.refused[0].method, "POST");
  EXPECT_EQ(out.refused[0].path, "/v1/rates/x");
  EXPECT_TRUE(out.to_client.starts_with("HTTP/1.1 403 Forbidden\r\n")) << out.to_client;
  EXPECT_NE(out.to_client.find("Content-Type: application/problem+json"), std::string::npos);
  const auto body = nlohmann::json::parse(out.to_client.substr(out.to_client.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["status"], 403);
  EXPECT_EQ(body["export"], "exp-1");
  EXPECT_NE(body["detail"].get<std::string>().find("POST /v1/rates/x"), std::string::npos);
  EXPECT_EQ(filter.want(), Want::kClient);

  out = client("GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_EQ(out.to_upstream, "GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
}

TEST_F(Http1FilterTest, PathsAreJudgedAndForwardedInTheirNormalForm) {
  auto out = client("GET /v1/rates/../admin HTTP/1.1\r\nHost: p\r\n\r\n");
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].path, "/v1/admin");
  EXPECT_EQ(out.to_upstream, "");

  out = client("GET /v1/%72ates/./eur HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_EQ(out.to_upstream, "GET /v1/rates/eur HTTP/1.1\r\nHost: p\r\n\r\n");
}

TEST_F(Http1FilterTest, WhatHasNoSingleReadingGets400AndEndsTheConnection) {
  const char* ambiguous[] = {
      "GET /v1/rates%2f..%2fadmin HTTP/1.1\r\nHost: p\r\n\r\n",
      "GET /v1/rates//x HTTP/1.1\r\nHost: p\r\n\r\n",
      "POST /v1/quotes HTTP/1.1\r\nHost: p\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /v1/quotes HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
      "POST /v1/quotes HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: gzip\r\n\r\nxxxx",
      "GET /v1/rates/x HTTP/1.1\r\nHost: p\r\nX-A: 1\r\n  folded\r\n\r\n",
      "GET /v1/rates/x HTTP/1.1\r\nHost: p\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
      "GET /v1/rates/x HTTP/2.0\r\nHost: p\r\n\r\n",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      "GET http://evil/v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n",
  };
  for (const char* request : ambiguous) {
    Http1Filter fresh("exp-1", [this] { return rules; });
    FilterOutput out;
    fresh.from_client(request, out);
    EXPECT_EQ(out.to_upstream, "") << request;
    ASSERT_EQ(out.refused.size(), 1u) << request;
    EXPECT_EQ(out.refused[0].status, 400) << request << ": " << out.refused[0].reason;
    EXPECT_TRUE(out.to_client.starts_with("HTTP/1.1 400 Bad Request\r\n")) << request;
    EXPECT_NE(out.to_client.find("Connection: close"), std::string::npos);
    EXPECT_EQ(fresh.want(), Want::kClose) << request;
  }
}

TEST_F(Http1FilterTest, ASecondRequestBehindTheFirstIsJudgedOnItsOwnAfterTheFirstResponse) {
  auto out = client(
      "GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n"
      "DELETE /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_EQ(out.to_upstream, "GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_TRUE(out.refused.empty());  // not read before the service answered the first

  out = upstream(kOk);
  EXPECT_TRUE(out.to_client.starts_with(kOk));
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].method, "DELETE");
  EXPECT_NE(out.to_client.find("403 Forbidden", 10), std::string::npos);  // after the service's answer
  EXPECT_EQ(out.to_upstream, "");
}

TEST_F(Http1FilterTest, ABodyIsPassedAsItsFramingSaysAndNothingAfterItCountsAsBody) {
  // The body ends where the chunks say; what follows is a request of its own.
  auto out = client(
      "POST /v1/quotes HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n"
      "POST /admin HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_EQ(out.to_upstream,
            "POST /v1/quotes HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  out = upstream(kOk);
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].path, "/admin");
  EXPECT_EQ(out.to_upstream, "");
}

TEST_F(Http1FilterTest, AChunkedRequestArrivingOneByteAtATimeIsPassedWhole) {
  const std::string request =
      "POST /v1/quotes HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  std::string passed;
  for (const char c : request) passed += client(std::string(1, c)).to_upstream;
  EXPECT_EQ(passed, request);
  EXPECT_EQ(filter.want(), Want::kUpstream);
}

TEST_F(Http1FilterTest, TheBodyOfARefusedRequestIsReadAndDropped) {
  auto out = client("PUT /v1/quotes HTTP/1.1\r\nHost: p\r\nContent-Length: 10\r\n\r\nGET /v1/ra");
  EXPECT_EQ(out.refused.size(), 1u);
  out = client("GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_EQ(out.to_upstream, "GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
}

TEST_F(Http1FilterTest, TheRulesInForceWhenARequestArrivesJudgeIt) {
  auto out = client("GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_FALSE(out.to_upstream.empty());
  upstream(kOk);
  rules = rules_from(R"({"http": [{"methods": ["GET"], "path": {"exact": "/v1/other"}}]})");
  out = client("GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_EQ(out.refused.size(), 1u);
  rules = std::nullopt;  // the route went
  out = client("GET /v1/other HTTP/1.1\r\nHost: p\r\n\r\n");
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].reason, "export no longer admits the caller");
}

TEST_F(Http1FilterTest, AHeadResponseHasNoBodyWhateverItsLengthSays) {
  rules = rules_from(R"({"http": [{"methods": ["HEAD", "GET"], "path": {"prefix": "/"}}]})");
  client("HEAD /x HTTP/1.1\r\nHost: p\r\n\r\n");
  auto out = upstream("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  EXPECT_EQ(filter.want(), Want::kClient);
  out = client("GET /y HTTP/1.1\r\nHost: p\r\n\r\n");
  EXPECT_EQ(out.to_upstream, "GET /y HTTP/1.1\r\nHost: p\r\n\r\n");
}

TEST_F(Http1FilterTest, ExpectContinueIsAnsweredHereAndNotPassedOn) {
  auto out = client("POST /v1/quotes HTTP/1.1\r\nHost: p\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(out.to_client, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(out.to_upstream, "POST /v1/quotes HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\n\r\n");
  out = client("hi");
  EXPECT_EQ(out.to_upstream, "hi");
  EXPECT_EQ(filter.want(), Want::kUpstream);
}

TEST_F(Http1FilterTest, InterimResponsesPassAndTheFinalOneEndsTheExchange) {
  client("GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
  auto out = upstream("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
  EXPECT_EQ(filter.want(), Want::kUpstream);
  out = upstream("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  EXPECT_EQ(out.to_client, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  EXPECT_EQ(filter.want(), Want::kClient);
}

TEST_F(Http1FilterTest, AWebSocketUpgradeOnAnAllowedPathBecomesATunnelAndOtherUpgradesAreRefused) {
  auto out = client("GET /v1/rates/live HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].reason, "upgrade other than websocket");

  out = client("GET /v1/rates/live HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_FALSE(out.to_upstream.empty());
  out = upstream("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframe");
  EXPECT_EQ(filter.want(), Want::kTunnel);
  EXPECT_TRUE(out.to_client.ends_with("frame"));
}

TEST_F(Http1FilterTest, ConnectionCloseFromEitherSideEndsAfterTheResponse) {
  client("GET /v1/rates/x HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n");
  upstream(kOk);
  EXPECT_EQ(filter.want(), Want::kClose);

  Http1Filter other("exp-1", [this] { return rules; });
  FilterOutput out;
  other.from_client("GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n", out);
  other.from_upstream("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", out);
  EXPECT_EQ(other.want(), Want::kUpstream);
  other.upstream_ended(out);
  EXPECT_EQ(other.want(), Want::kClose);
  EXPECT_TRUE(out.to_client.ends_with("until the end"));
}

TEST_F(Http1FilterTest, AnOversizedHeaderIsRefusedBeforeItIsHeld) {
  auto out = client("GET /v1/rates/x HTTP/1.1\r\nHost: p\r\nX-Big: " + std::string(kMaxRequestHeaderBytes, 'a'));
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].status, 400);
  EXPECT_EQ(filter.want(), Want::kClose);
}

TEST_F(Http1FilterTest, TheServiceClosingBeforeItAnsweredGives502) {
  client("GET /v1/rates/x HTTP/1.1\r\nHost: p\r\n\r\n");
  FilterOutput out;
  filter.upstream_ended(out);
  EXPECT_TRUE(out.to_client.starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
  EXPECT_EQ(filter.want(), Want::kClose);
}

}  // namespace
}  // namespace meshfed::gateway
