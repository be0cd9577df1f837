#include "meshfed/core/regex.hpp"

#include <gtest/gtest.h>

namespace meshfed {
namespace {

TEST(Regex, AnchoredWholeStringMatchAndFirstGroup) {
  auto re = Regex::compile("outbound:.*_([a-z-]+)_svc");
  ASSERT_TRUE(re) << re.error().message;
  EXPECT_EQ(re->first_group("outbound:8443_payments-api_svc"), "payments-api");
  EXPECT_FALSE(re->matches("xoutbound:1_a_svc_tail"));
  EXPECT_EQ(re->groups(), 1u);
  EXPECT_TRUE(Regex::compile("pay.*|ledger")->matches("ledger"));
  EXPECT_FALSE(Regex::compile("a")->first_group("a").has_value());  // no group
}

TEST(Regex, HostilePatternsAreRefusedOrBoundedNotExponential) {
  // The patterns that took glibc 1.7-3.2 GB: RE2 refuses them at compile, within its memory cap.
  for (const char* p : {"((a{1,100}){1,100}){1,100}", "((a{0,255}){0,255}){0,255}", "(((a{100}){100}){100}){100}"}) {
    auto re = Regex::compile(p);
    ASSERT_FALSE(re) << p;
    EXPECT_NE(re.error().message.find("invalid regular expression"), std::string::npos) << re.error().message;
  }
  // Classic backtracking bombs compile and run in linear time.
  auto bomb = Regex::compile("(a+)+$");
  ASSERT_TRUE(bomb);
  EXPECT_FALSE(bomb->matches(std::string(100000, 'a') + "!"));
  EXPECT_FALSE(Regex::compile(std::string(Regex::kMaxPatternBytes + 1, 'a')));
  EXPECT_FALSE(Regex::compile("(unclosed"));
}

}  // namespace
}  // namespace meshfed
