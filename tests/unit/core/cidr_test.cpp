#include "meshfed/core/cidr.hpp"

#include <gtest/gtest.h>

namespace meshfed {
namespace {

TEST(Cidr, ContainsByPrefixForBothFamilies) {
  const auto v4 = *Cidr::parse("10.20.0.0/23");
  EXPECT_TRUE(v4.contains(*IpAddress::parse("10.20.1.255")));
  EXPECT_FALSE(v4.contains(*IpAddress::parse("10.20.2.0")));
  EXPECT_FALSE(v4.contains(*IpAddress::parse("fd00::1")));
  const auto v6 = *Cidr::parse("fd00:20::/33");
  EXPECT_TRUE(v6.contains(*IpAddress::parse("fd00:20:7fff::1")));
  EXPECT_FALSE(v6.contains(*IpAddress::parse("fd00:20:8000::1")));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains(*IpAddress::parse("192.0.2.1")));
  EXPECT_TRUE(Cidr::host(*IpAddress::parse("127.0.0.1")).contains(*IpAddress::parse("127.0.0.1")));
  EXPECT_FALSE(Cidr::host(*IpAddress::parse("127.0.0.1")).contains(*IpAddress::parse("127.0.0.2")));
}

TEST(Cidr, MappedAddressesCountAsIpv4) {
  EXPECT_TRUE(Cidr::parse("127.0.0.0/8")->contains(*IpAddress::parse("::ffff:127.0.0.9")));
  EXPECT_EQ(IpAddress::parse("::ffff:10.0.0.1")->to_string(), "10.0.0.1");
}

TEST(Cidr, RefusesWhatIsNotARange) {
  for (const char* bad :
       {"10.0.0.0", "10.0.0.0/33", "fd00::/129", "10.0.0.0/-1", "10.0.0/8", "host/8", "10.0.0.0/8x", ""}) {
    EXPECT_FALSE(Cidr::parse(bad).has_value()) << bad;
  }
  EXPECT_FALSE(IpAddress::parse("ingress.example").has_value());
  EXPECT_FALSE(IpAddress::parse(std::string(100, '1')).has_value());
}

}  // namespace
}  // namespace meshfed
