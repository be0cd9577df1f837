#include "meshfed/core/strict_json.hpp"

#include <gtest/gtest.h>

namespace meshfed {
namespace {

using nlohmann::json;

std::string refusal(std::string_view text, JsonLimits limits = {}) {
  auto r = parse_strict_json(text, limits, "body");
  return r ? std::string() : r.error().message;
}

TEST(StrictJson, AcceptsOrdinaryDocuments) {
  auto r = parse_strict_json(R"({"a": [1, 2.5, "x", null, true], "b": {"c": -3}})", {}, "body");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["b"]["c"], -3);
  EXPECT_EQ((*r)["a"].size(), 5u);
}

TEST(StrictJson, RefusesDeepNestingWithoutRecursing) {
  // 100,000 nested arrays: the document that crashed the importer through dump().
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(refusal(deep).find("nested deeper than 32 levels"), std::string::npos);
  const std::string objects = [] {
    std::string s;
    for (int i = 0; i < 50000; ++i) s += "{\"a\":";
    s += "1";
    for (int i = 0; i < 50000; ++i) s += "}";
    return s;
  }();
  EXPECT_NE(refusal(objects).find("nested deeper"), std::string::npos);
  // Exactly at the limit is fine.
  EXPECT_EQ(refusal(std::string(4, '[') + std::string(4, ']'), {1024, 4}), "");
  EXPECT_NE(refusal(std::string(5, '[') + std::string(5, ']'), {1024, 4}), "");
}

TEST(StrictJson, RefusesWhatFollowsTheValueIncludingAfterANul) {
  EXPECT_NE(refusal(std::string("{\"a\":1}\0garbage", 15)).find("NUL byte at offset 7"), std::string::npos);
  EXPECT_NE(refusal(std::string("{\"a\":\"x\0y\"}", 11)).find("NUL byte"), std::string::npos);
  EXPECT_NE(refusal("{\"a\":1} {\"b\":2}").find("not valid JSON"), std::string::npos);
  EXPECT_NE(refusal("").find("not valid JSON"), std::string::npos);
}

TEST(StrictJson, RefusesDuplicateKeysAtAnyDepth) {
  EXPECT_NE(refusal(R"({"role": "viewer", "role": "admin"})").find("the key \"role\" twice"), std::string::npos);
  EXPECT_NE(refusal(R"({"a": [{"x": 1, "y": 2, "x": 3}]})").find("\"x\" twice"), std::string::npos);
  // The same key in sibling objects is not a duplicate.
  EXPECT_EQ(refusal(R"({"a": {"x": 1}, "b": {"x": 2}})"), "");
}

TEST(StrictJson, RefusesNumbersOutOfRangeAsBadInput) {
  auto r = parse_strict_json(R"({"ttl_s": 1e400})", {}, "body");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("out of range"), std::string::npos);
}

TEST(StrictJson, RefusesOversizeDocumentsBeforeParsing) {
  auto r = parse_strict_json(std::string(2000, ' ') + "1", {1000, 32}, "catalog");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(r.error().message, "catalog is larger than 1000 bytes");
}

TEST(StrictJson, HookSeesValuesAfterTheChecksAndMayConsumeThem) {
  int consumed = 0;
  auto r = parse_strict_json(R"({"items": [{"n": 1}, {"n": 2}], "k": 3})", {}, "body",
                             [&](int depth, json::parse_event_t event, json& parsed) {
                               if (event == json::parse_event_t::object_end && depth == 2) {
                                 consumed += parsed["n"].get<int>();
                                 return false;
                               }
                               return true;
                             });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(consumed, 3);
  EXPECT_TRUE((*r)["items"].empty());
  EXPECT_EQ((*r)["k"], 3);
}

}  // namespace
}  // namespace meshfed
