#include "meshfed/policy/l7.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace meshfed::policy {
namespace {

using nlohmann::json;

std::string normal(std::string_view target) {
  auto n = normalize_path(target);
  return n ? *n : "error: " + n.error().message;
}

TEST(L7Path, OnePathHasOneSpelling) {
  EXPECT_EQ(normal("/v1/rates/eur"), "/v1/rates/eur");
  EXPECT_EQ(normal("/"), "/");
  EXPECT_EQ(normal("/v1/rates/?x=1"), "/v1/rates/") << "the query is not the path";
  EXPECT_EQ(normal("/v1/%72ates/eur"), "/v1/rates/eur") << "an escaped unreserved character is that character";
  EXPECT_EQ(normal("/v1/rates/./eur"), "/v1/rates/eur");
  EXPECT_EQ(normal("/v1/rates/../admin"), "/v1/admin");
  EXPECT_EQ(normal("/v1/rates/%2e%2e/admin"), "/v1/admin") << "escaped dots are dots";
  EXPECT_EQ(normal("/v1/rates/.."), "/v1/");
  EXPECT_EQ(normal("/v1/rates%2f..%2fadmin"), "/v1/rates%2F..%2Fadmin") << "an escaped slash is no separator";
  EXPECT_EQ(normal("/a%3Ab"), "/a%3Ab");
}

TEST(L7Path, WhatHasNoSingleReadingIsRefused) {
  for (const std::string bad :
       {"", "v1/rates", "*", "http://pci/v1", "/v1//rates", "//v1", "/..", "/v1/../..", "/v1/%2", "/v1/%zz",
        "/v1/rates#x", "/v1/ra tes", "/v1\\rates", "/v1/\x01", "/v1/\xc3\xa9"}) {
    EXPECT_FALSE(normalize_path(bad).ok()) << bad;
  }
  EXPECT_FALSE(normalize_path("/" + std::string(kMaxRequestPathBytes, 'a')).ok());
}

TEST(L7Path, TheIngressAlsoRefusesEscapedSeparators) {
  EXPECT_EQ(judged_path("/v1/%72ates/./eur?x=%2F").value(), "/v1/rates/eur");
  for (const std::string bad : {"/v1/rates%2f..%2fadmin", "/v1/rates%2Fx", "/v1%5cadmin", "/v1//x"}) {
    EXPECT_FALSE(judged_path(bad).ok()) << bad;
  }
  EXPECT_TRUE(normalize_path("/v1/rates%2Fx").ok()) << "a plain escape to the rules";
}

TEST(L7Rules, HttpRulesAreReadStrictlyAndMatchNormalisedPaths) {
  const json j = {{"http",
                   {{{"methods", {"GET"}}, {"path", {{"prefix", "/v1/rates/"}}}},
                    {{"methods", {"POST", "PUT"}}, {"path", {{"exact", "/v1/quotes"}}}}}}};
  const auto rules = parse_l7(j);
  ASSERT_TRUE(rules.ok()) << rules.error().message;
  EXPECT_EQ(to_json(*rules), j);
  EXPECT_EQ(parse_l7(to_json(*rules)).value(), *rules);
  EXPECT_TRUE(fits_protocol(*rules, "http2").ok());
  EXPECT_TRUE(allows_http(*rules, "GET", "/v1/rates/eur"));
  EXPECT_FALSE(allows_http(*rules, "POST", "/v1/rates/x"));
  EXPECT_FALSE(allows_http(*rules, "GET", "/v1/rates")) << "the prefix ends with a slash";
  EXPECT_FALSE(allows_http(*rules, "GET", *normalize_path("/v1/rates/../admin")));
  EXPECT_FALSE(allows_http(*rules, "GET", *normalize_path("/v1/rates%2f..%2fadmin")));
  EXPECT_TRUE(allows_http(*rules, "PUT", "/v1/quotes"));
  EXPECT_FALSE(allows_http(*rules, "PUT", "/v1/quotes/1")) << "exact is exact";
  EXPECT_FALSE(allows_http(*rules, "get", "/v1/rates/eur")) << "methods are case-sensitive";
}

TEST(L7Rules, EveryWrongFieldIsNamed) {
  const json j = {{"http",
                   {{{"methods", {"GET", "FETCH", "GET"}}, {"path", {{"prefix", "/v1/../x"}}}},
                    {{"methods", json::array()}, {"path", {{"exact", "v1"}, {"prefix", "/v1"}}}},
                    {{"path", {{"exact", "/a?b"}}}, {"extra", true}}}}};
  const auto r = parse_l7(j);
  ASSERT_FALSE(r.ok());
  std::vector<std::string> fields;
  for (const auto& f : r.error().fields) fields.push_back(f.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"l7.http[0].methods[1]", "l7.http[0].methods[2]",
                                              "l7.http[0].path.prefix", "l7.http[1].methods", "l7.http[1].path",
                                              "l7.http[2].methods", "l7.http[2].path.exact", "l7.http[2].extra"}))
      << r.error().message;
  EXPECT_NE(r.error().fields[2].message.find("write it as \"/x\""), std::string::npos) << r.error().fields[2].message;
}

TEST(L7Rules, BoundsAndProtocolsAreKept) {
  json many = {{"http", json::array()}};
  for (size_t i = 0; i <= kMaxRules; ++i) many["http"].push_back({{"methods", {"GET"}}, {"path", {{"exact", "/a"}}}});
  EXPECT_EQ(parse_l7(many).error().fields.at(0).field, "l7.http");
  EXPECT_FALSE(parse_l7({{"http", json::array()}}).ok()) << "no rule is not a policy";
  EXPECT_FALSE(
      parse_l7({{"http", {{{"methods", {"GET"}}, {"path", {{"exact", "/" + std::string(1024, 'a')}}}}}}}).ok());
  EXPECT_EQ(parse_l7({{"http", json::array()}, {"grpc", json::array()}}).error().fields.at(0).field, "l7");
  EXPECT_EQ(parse_l7(json::object()).error().fields.at(0).field, "l7");
  EXPECT_FALSE(parse_l7(json::array()).ok());
  // Each rule within its bounds, the whole over kMaxRulesBytes: they travel in every catalog.
  json long_paths = {{"http", json::array()}};
  for (int i = 0; i < 20; ++i) {
    long_paths["http"].push_back(
        {{"methods", {"GET"}}, {"path", {{"exact", "/" + std::to_string(i) + std::string(1000, 'a')}}}});
  }
  const auto too_big = parse_l7(long_paths);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.error().message.find("at most 16384"), std::string::npos) << too_big.error().message;
  EXPECT_EQ(parse_l7_text(long_paths["http"][0].dump()).error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(parse_l7_text(R"({"grpc": ["a.B/C"]})").ok());

  const auto grpc = parse_l7({{"grpc", {"a.B/C"}}}).value();
  const auto http = parse_l7({{"http", {{{"methods", {"GET"}}, {"path", {{"exact", "/"}}}}}}}).value();
  const auto tcp = fits_protocol(grpc, "tcp");
  ASSERT_FALSE(tcp.ok());
  EXPECT_NE(tcp.error().message.find("only an http, http2 or grpc port"), std::string::npos);
  EXPECT_FALSE(fits_protocol(grpc, "http").ok()) << "an http port takes http rules";
  EXPECT_FALSE(fits_protocol(http, "grpc").ok());
  EXPECT_TRUE(fits_protocol(grpc, "grpc").ok());
  EXPECT_TRUE(fits_protocol(http, "http").ok());
  EXPECT_TRUE(carries_l7("http2"));
  EXPECT_FALSE(carries_l7("tcp"));
}

TEST(L7Rules, GrpcMethodsOrWholeServices) {
  const auto rules = parse_l7({{"grpc", {"payments.v1.Rates/Get", "payments.v1.Quotes/*"}}});
  ASSERT_TRUE(rules.ok()) << rules.error().message;
  EXPECT_TRUE(allows_grpc(*rules, "/payments.v1.Rates/Get"));
  EXPECT_FALSE(allows_grpc(*rules, "/payments.v1.Rates/Delete"));
  EXPECT_TRUE(allows_grpc(*rules, "/payments.v1.Quotes/Create"));
  EXPECT_FALSE(allows_grpc(*rules, "/payments.v1.Quotes/*")) << "a wildcard is a rule, never a method";
  EXPECT_FALSE(allows_grpc(*rules, "/payments.v1.QuotesX/Create"));
  EXPECT_FALSE(allows_grpc(*rules, "payments.v1.Rates/Get")) << ":path starts with a slash";
  EXPECT_FALSE(allows_grpc(*rules, "/payments.v1.Rates/Get/x"));
  const auto wrong = parse_l7({{"grpc", {"Rates", "a..b/C", "a.b/c.d", "1a.B/C", "x.Y/Z", "x.Y/Z"}}});
  ASSERT_FALSE(wrong.ok());
  std::vector<std::string> fields;
  for (const auto& f : wrong.error().fields) fields.push_back(f.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"l7.grpc[0]", "l7.grpc[1]", "l7.grpc[2]", "l7.grpc[3]", "l7.grpc[5]"}));
}

}  // namespace
}  // namespace meshfed::policy
