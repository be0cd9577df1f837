#include "meshfed/core/cidr.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <set>

#include "meshfed/core/text.hpp"

namespace meshfed {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(kMapped), std::end(kMapped), a.bytes.begin())) {
    std::array<uint8_t, 16> v4{};
    std::copy_n(a.bytes.begin() + 12, 4, v4.begin());
    a.bytes = v4;
    return a;
  }
  a.v6 = true;
  return a;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto base = IpAddress::parse(text.substr(0, slash));
  const auto bits = parse_int(text.substr(slash + 1));
  if (!base || !bits || *bits < 0 || *bits > (base->v6 ? 128 : 32)) return std::nullopt;
  return Cidr{*base, static_cast<int>(*bits)};
}

bool Cidr::contains(const IpAddress& a) const {
  if (a.v6 != base.v6) return false;
  const int full = bits / 8;
  if (!std::equal(base.bytes.begin(), base.bytes.begin() + full, a.bytes.begin())) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (base.bytes[full] & mask) == (a.bytes[full] & mask);
}

std::string Cidr::to_string() const { return base.to_string() + "/" + std::to_string(bits); }

bool any_contains(const std::vector<Cidr>& ranges, const IpAddress& a) {
  return std::any_of(ranges.begin(), ranges.end(), [&](const Cidr& c) { return c.contains(a); });
}

Result<std::vector<std::string>> resolve_host(const std::string& host) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    return std::vector<std::string>{host};
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0) {
    return make_error(ErrorCode::kUnavailable, "cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::set<std::string> addrs;
  for (auto* a = res; a; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* src = a->ai_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (inet_ntop(a->ai_family, src, text, sizeof text)) addrs.insert(text);
  }
  freeaddrinfo(res);
  return std::vector<std::string>(addrs.begin(), addrs.end());
}

}  // namespace meshfed
