#include "meshfed/http/message.hpp"

#include <gtest/gtest.h>

namespace meshfed::http {
namespace {

TEST(ParseTarget, DecodesPathAndQuery) {
  std::string path;
  std::multimap<std::string, std::string> q;
  ASSERT_TRUE(parse_target("/api/v1/exports?state=pending&after=12&match%5B%5D=a+b", path, q));
  EXPECT_EQ(path, "/api/v1/exports");
  EXPECT_EQ(q.find("state")->second, "pending");
  EXPECT_EQ(q.find("after")->second, "12");
  EXPECT_EQ(q.find("match[]")->second, "a b");
}

TEST(ParseTarget, RejectsMalformedEscapesAndRelativePaths) {
  std::string path;
  std::multimap<std::string, std::string> q;
  EXPECT_FALSE(parse_target("/a%zz", path, q));
  EXPECT_FALSE(parse_target("/a%2", path, q));
  EXPECT_FALSE(parse_target("relative", path, q));
}

TEST(PercentEncode, RoundTrips) {
  std::string path;
  std::multimap<std::string, std::string> q;
  ASSERT_TRUE(parse_target("/x?v=" + percent_encode("a b&c=d/é"), path, q));
  EXPECT_EQ(q.find("v")->second, "a b&c=d/é");
}

}  // namespace
}  // namespace meshfed::http
