#include "meshfed/core/text.hpp"

#include <gtest/gtest.h>

namespace meshfed {
namespace {

TEST(Text, EscapeForLogKeepsOneLineAndBoundsIt) {
  EXPECT_EQ(escape_for_log("/api/v1/x%0a"), "/api/v1/x%0a");  // still encoded: harmless
  EXPECT_EQ(escape_for_log("GET /x\n[info] forged line"), "GET /x\\n[info] forged line");
  EXPECT_EQ(escape_for_log(std::string("a\r\tb\x1b[31m\\", 10)), "a\\r\\tb\\x1b[31m\\\\");
  EXPECT_EQ(escape_for_log(std::string("\0", 1)), "\\x00");
  EXPECT_EQ(escape_for_log(std::string(600, 'x'), 10), "xxxxxxxxxx...");
}

}  // namespace
}  // namespace meshfed
