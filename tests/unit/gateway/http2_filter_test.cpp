#include "gateway/http2_filter.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <nlohmann/json.hpp>

#include <vector>

namespace meshfed::gateway {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f = {static_cast<char>(payload.size() >> 16),
                   static_cast<char>(payload.size() >> 8),
                   static_cast<char>(payload.size()),
                   static_cast<char>(type),
                   static_cast<char>(flags),
                   static_cast<char>(stream >> 24),
                   static_cast<char>(stream >> 16),
                   static_cast<char>(stream >> 8),
                   static_cast<char>(stream)};
  return f + payload;
}

// A caller's encoder: indexing, as real clients do, so the filter's decoder must keep up.
class Caller {
 public:
  Caller() { nghttp2_hd_deflate_new(&deflater_, 4096); }
  ~Caller() { nghttp2_hd_deflate_del(deflater_); }
  std::string headers(uint32_t stream, const Fields& fields, bool end_stream) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [n, v] : fields) {
      nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                     reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    }
    std::string block(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
    const auto n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(block.data()), block.size(), nva.data(),
                                         nva.size());
    block.resize(static_cast<size_t>(n));
    return frame(1, 0x4 | (end_stream ? 0x1 : 0), stream, block);
  }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

// Every header block of `frames` (HEADERS with END_HEADERS), decoded, by stream.
std::vector<std::pair<uint32_t, Fields>> decoded(const std::string& frames) {
  nghttp2_hd_inflater* inflater = nullptr;
  nghttp2_hd_inflate_new(&inflater);
  std::vector<std::pair<uint32_t, Fields>> out;
  for (size_t at = 0; at + 9 <= frames.size();) {
    const auto* p = reinterpret_cast<const uint8_t*>(frames.data() + at);
    const size_t len = (size_t(p[0]) << 16) | (size_t(p[1]) << 8) | p[2];
    const uint32_t stream = (uint32_t(p[5] & 0x7f) << 24) | (uint32_t(p[6]) << 16) | (uint32_t(p[7]) << 8) | p[8];
    if (p[3] == 1) {
      Fields fields;
      const uint8_t* in = p + 9;
      size_t left = len;
      for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        const auto n = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left, 1);
        if (n < 0) break;
        in += n;
        left -= static_cast<size_t>(n);
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
          fields.emplace_back(std::string(reinterpret_cast<char*>(nv.name), nv.namelen),
                              std::string(reinterpret_cast<char*>(nv.value), nv.valuelen));
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
          nghttp2_hd_inflate_end_headers(inflater);
          break;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) break;
      }
      out.emplace_back(stream, fields);
    }
    at += 9 + len;
  }
  nghttp2_hd_inflate_del(inflater);
  return out;
}

std::string field(const Fields& fields, const std::string& name) {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return "";
}

Fields call(const std::string& path, const std::string& method = "POST") {
  return {{":method", method},
          {":scheme", "http"},
          {":path", path},
          {":authority", "rates"},
          {"content-type", "application/grpc"},
          {"te", "trailers"}};
}

class Http2FilterTest : public ::testing::Test {
 protected:
  std::optional<std::shared_ptr<const policy::L7Rules>> rules = std::make_shared<const policy::L7Rules>(
      policy::parse_l7(nlohmann::json::parse(R"({"grpc": ["payments.v1.Rates/Get"]})")).value());
  Http2Filter filter{"rates-1", [this] { return rules; }};
  Caller caller;

  FilterOutput client(const std::string& bytes) {
    FilterOutput out;
    filter.from_client(bytes, out);
    return out;
  }
};

TEST_F(Http2FilterTest, AnAllowedCallIsPassedAndARefusedOneAnsweredPermissionDeniedWithoutReachingTheService) {
  auto out = client(std::string(kPreface) + frame(4, 0, 0, "") +
                    caller.headers(1, call("/payments.v1.Rates/Get"), false) + frame(0, 0x1, 1, "\0\0\0\0\x02hi"));
  ASSERT_TRUE(out.to_upstream.starts_with(kPreface));
  auto passed = decoded(out.to_upstream.substr(kPreface.size()));
  ASSERT_EQ(passed.size(), 1u);
  EXPECT_EQ(passed[0].first, 1u);
  EXPECT_EQ(field(passed[0].second, ":path"), "/payments.v1.Rates/Get");
  EXPECT_TRUE(out.refused.empty());

  // The same header again, now indexed by the caller's encoder: the filter's decoder follows.
  out = client(caller.headers(3, call("/payments.v1.Rates/Set"), false) + frame(0, 0x1, 3, std::string(7, 'x')) +
               caller.headers(5, call("/payments.v1.Rates/Get"), true));
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].status, 403);
  EXPECT_EQ(out.refused[0].path, "/payments.v1.Rates/Set");
  passed = decoded(out.to_upstream);
  ASSERT_EQ(passed.size(), 1u) << "stream 3 never reaches the service";
  EXPECT_EQ(passed[0].first, 5u);
  EXPECT_EQ(out.to_upstream.find(std::string(7, 'x')), std::string::npos) << "nor does its body";
  const auto answered = decoded(out.to_client);
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].first, 3u);
  EXPECT_EQ(field(answered[0].second, "grpc-status"), "7");
  EXPECT_NE(field(answered[0].second, "grpc-message").find("rates-1"), std::string::npos);
  // The dropped DATA (7 bytes) goes back to the caller's connection window.
  EXPECT_NE(out.to_client.find(frame(8, 0, 0, std::string("\0\0\0\x07", 4))), std::string::npos);
  EXPECT_FALSE(filter.closed());
}

TEST_F(Http2FilterTest, ARequestWithNoSingleReadingGets400) {
  client(std::string(kPreface));
  Fields two_paths = call("/payments.v1.Rates/Get");
  two_paths.emplace_back(":path", "/payments.v1.Rates/Set");
  Fields late_pseudo = {{":method", "POST"},
                        {"content-type", "application/grpc"},
                        {":path", "/payments.v1.Rates/Get"},
                        {":scheme", "http"}};
  Fields no_scheme = {{":method", "POST"}, {":path", "/payments.v1.Rates/Get"}};
  Fields connection = call("/payments.v1.Rates/Get");
  connection.emplace_back("connection", "keep-alive");
  Fields upper = call("/payments.v1.Rates/Get");
  upper.emplace_back("X-Upper", "1");
  Fields protocol = call("/payments.v1.Rates/Get");
  protocol.emplace_back(":protocol", "websocket");
  Fields bytes = {{":method", "P\x91ST"},
                  {":sc\x91"
                   "eme",
                   "http"},
                  {":path", "/payments.v1.Rates/Get"}};
  uint32_t stream = 1;
  for (const auto& fields : {two_paths, late_pseudo, no_scheme, connection, upper, protocol, bytes}) {
    auto out = client(caller.headers(stream, fields, true));
    EXPECT_EQ(out.to_upstream, "") << stream;
    ASSERT_EQ(out.refused.size(), 1u) << stream;
    EXPECT_EQ(out.refused[0].status, 400) << out.refused[0].reason;
    const auto answered = decoded(out.to_client);
    ASSERT_EQ(answered.size(), 1u);
    EXPECT_EQ(field(answered[0].second, ":status"), "400");
    EXPECT_EQ(out.refused[0].method.find('\x91'), std::string::npos) << "what is logged is printable";
    stream += 2;
  }
  EXPECT_FALSE(filter.closed()) << "each is refused alone";
}

TEST_F(Http2FilterTest, HttpRulesJudgeTheNormalFormAndForwardIt) {
  rules = std::make_shared<const policy::L7Rules>(
      policy::parse_l7(nlohmann::json::parse(R"({"http": [{"methods": ["GET"], "path": {"prefix": "/v1/rates/"}}]})"))
          .value());
  client(std::string(kPreface));
  auto out = client(caller.headers(1, call("/v1/rates/./eur?x=1", "GET"), true));
  ASSERT_EQ(decoded(out.to_upstream).size(), 1u);
  EXPECT_EQ(field(decoded(out.to_upstream)[0].second, ":path"), "/v1/rates/eur?x=1");
  out = client(caller.headers(3, {{":method", "GET"}, {":scheme", "http"}, {":path", "/v1/rates/../admin"}}, true));
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].status, 403);
  EXPECT_EQ(field(decoded(out.to_client)[0].second, ":status"), "403");
  out = client(caller.headers(5, {{":method", "GET"}, {":scheme", "http"}, {":path", "/v1/rates%2f..%2fadmin"}}, true));
  ASSERT_EQ(out.refused.size(), 1u);
  EXPECT_EQ(out.refused[0].status, 400);
}

TEST_F(Http2FilterTest, BrokenFramingEndsTheConnection) {
  auto out = client("GET / HTTP/1.1\r\n");
  EXPECT_TRUE(filter.closed());

  Http2Filter other("rates-1", [this] { return rules; });
  FilterOutput o;
  other.from_client(std::string(kPreface) + frame(1, 0, 1, "\x82") + frame(0, 0, 1, "x"), o);
  EXPECT_TRUE(other.closed()) << "a header block interrupted";

  Http2Filter third("rates-1", [this] { return rules; });
  FilterOutput t;
  third.from_client(std::string(kPreface) + frame(1, 0x4, 1, "\xff\xff\xff\xff"), t);
  EXPECT_TRUE(third.closed()) << "a block that does not decode";
  std::string huge(12, '\0');
  huge[0] = 0x7f;
  Http2Filter fourth("rates-1", [this] { return rules; });
  FilterOutput h;
  fourth.from_client(std::string(kPreface) + huge, h);
  EXPECT_TRUE(fourth.closed()) << "a frame over the bound";
}

TEST_F(Http2FilterTest, NeitherSideMayMakeTheOtherSendFramesLargerThanTheFilterHolds) {
  const std::string big = std::string("\0\x05\0\x10\0\0", 6) + std::string("\0\x01\0\x10\0\0", 6);  // 1 MiB each
  auto out = client(std::string(kPreface) + frame(4, 0, 0, big));
  EXPECT_EQ(out.to_upstream.substr(kPreface.size()),
            frame(4, 0, 0, std::string("\0\x05\0\0\x40\0", 6) + std::string("\0\x01\0\x10\0\0", 6)))
      << "the caller's largest frame lowered; its table size is the service's business";
  FilterOutput from_service;
  filter.from_upstream(frame(4, 0, 0, big), from_service);
  EXPECT_EQ(from_service.to_client,
            frame(4, 0, 0, std::string("\0\x05\0\0\x40\0", 6) + std::string("\0\x01\0\x01\0\0", 6)))
      << "the service's largest frame and header table lowered to what the filter holds";
  client(frame(0, 0, 1, std::string(kMaxHttp2FrameBytes + 1, 'x')));
  EXPECT_TRUE(filter.closed());
}

TEST_F(Http2FilterTest, OurAnswerWaitsForAHeaderBlockOfTheServiceUnderWay) {
  client(std::string(kPreface));
  FilterOutput out;
  filter.from_upstream(frame(1, 0, 1, "\x88"), out);  // HEADERS without END_HEADERS
  EXPECT_EQ(out.to_client, frame(1, 0, 1, "\x88"));
  out = client(caller.headers(3, call("/payments.v1.Rates/Set"), true));
  EXPECT_EQ(out.to_client, "") << "not inside the service's block";
  out = client(frame(0, 0, 3, "body"));  // DATA of the refused stream: its window update waits too
  EXPECT_EQ(out.to_client, "");
  FilterOutput rest;
  filter.from_upstream(frame(9, 0x4, 1, ""), rest);
  EXPECT_TRUE(rest.to_client.starts_with(frame(9, 0x4, 1, "")));
  EXPECT_EQ(decoded(rest.to_client.substr(9)).size(), 1u);
  EXPECT_TRUE(rest.to_client.ends_with(frame(8, 0, 0, std::string("\0\0\0\x04", 4))));

  // While the service stalls inside a block, what piles up for the caller is bounded.
  filter.from_upstream(frame(1, 0, 5, "\x88"), rest);
  for (uint32_t stream = 7; stream < 7 + 2 * 1000 && !filter.closed(); stream += 2) {
    client(caller.headers(stream, call("/payments.v1.Rates/Set"), true));
  }
  EXPECT_TRUE(filter.closed());
}

}  // namespace
}  // namespace meshfed::gateway
