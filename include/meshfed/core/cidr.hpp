// IP addresses and CIDR ranges as values: where a peer's ingress may be, which sources a
// listener admits. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as the IPv4 address.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshfed/core/result.hpp"

namespace meshfed {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first four

  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
  auto operator<=>(const IpAddress&) const = default;
};

struct Cidr {
  IpAddress base;
  int bits = 0;

  static std::optional<Cidr> parse(std::string_view text);  // "10.0.0.0/8", "fd00::/8"
  static Cidr host(const IpAddress& a) { return {a, a.v6 ? 128 : 32}; }
  bool contains(const IpAddress& a) const;
  std::string to_string() const;
};

bool any_contains(const std::vector<Cidr>& ranges, const IpAddress& a);

// The addresses a host name resolves to (getaddrinfo; blocks), or the literal itself.
Result<std::vector<std::string>> resolve_host(const std::string& host);

}  // namespace meshfed
