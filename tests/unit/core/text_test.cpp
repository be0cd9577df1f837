#include "meshfed/core/text.hpp"

#include <gtest/gtest.h>

namespace meshfed {
namespace {

TEST(Text, EscapeForLogKeepsOneLineAndBoundsIt) {
  EXPECT_EQ(escape_for_log("/api/v1/x%0a"), "/api/v1/x%0a");  // still encoded: harmless
  EXPECT_EQ(escape_for_log("GET /x\n[info] forged line"), "GET /x\\n[info] forged line");
  EXPECT_EQ(escape_for_log(std::string("a\r\tb\x1b[31m\\", 10)), "a\\r\\tb\\x1b[31m\\\\");
  EXPECT_EQ(escape_for_log(std::string("\0", 1)), "\\x00");
  EXPECT_EQ(escape_for_log("\xc2\x9b"
                           "31m"),
            "\\xc2\\x9b31m");  // U+009B, a terminal's CSI
  EXPECT_EQ(escape_for_log("a\xe2\x80\xae"
                           "b"),
            "a\\xe2\\x80\\xaeb");              // U+202E, right-to-left override
  EXPECT_EQ(escape_for_log("\xff"), "\\xff");  // not UTF-8 at all
  EXPECT_EQ(escape_for_log(std::string(600, 'x'), 10), "xxxxxxxxxx...");
}

TEST(Text, Rfc3339IsExactAndBounded) {
  const auto t = parse_rfc3339("2026-11-30T10:00:00.123Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_rfc3339(*t), "2026-11-30T10:00:00.123Z");
  EXPECT_EQ(parse_rfc3339("2026-11-30T10:00:00Z"), from_unix_ms(to_unix_ms(*t) - 123));
  EXPECT_TRUE(parse_rfc3339("2199-12-31T23:59:59Z"));
  // Found by the catalog fuzz target: a far-future year overflowed the nanosecond clock.
  for (const char* bad : {"4198-01-01T00:00:00.000Z", "1969-12-31T23:59:59Z", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-11-30T24:00:00Z", "2026-11-30T10:00:00ZGARBAGE",
                          "2026-11-30T10:00:00+01:00", "2026-1-30T10:00:00Z", "2026-11-30T10:00:-1Z", ""}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}

}  // namespace
}  // namespace meshfed
