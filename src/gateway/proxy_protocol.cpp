#include "meshfed/gateway/proxy_protocol.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <optional>

namespace meshfed::gateway {
namespace {

constexpr std::array<uint8_t, 12> kSignature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr uint8_t kVersion2Proxy = 0x21;
constexpr uint8_t kTcpOverIpv4 = 0x11;
constexpr uint8_t kTcpOverIpv6 = 0x21;

void put16(std::string& out, size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

struct Parsed {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
};

std::optional<Parsed> parse_ip(const std::string& ip) {
  Parsed p;
  if (inet_pton(AF_INET, ip.c_str(), p.bytes.data()) == 1) return p;
  p.v6 = true;
  if (inet_pton(AF_INET6, ip.c_str(), p.bytes.data()) == 1) return p;
  return std::nullopt;
}

// IPv4 a.b.c.d as ::ffff:a.b.c.d.
Parsed to_v6(Parsed p) {
  if (p.v6) return p;
  Parsed m;
  m.v6 = true;
  m.bytes[10] = m.bytes[11] = 0xFF;
  std::memcpy(m.bytes.data() + 12, p.bytes.data(), 4);
  return m;
}

void put_tlv(std::string& out, uint8_t type, const std::string& value) {
  out.push_back(static_cast<char>(type));
  put16(out, value.size());
  out += value;
}

}  // namespace

Result<std::string> proxy_v2_header(const ProxyEndpoint& source, const ProxyEndpoint& destination,
                                    const std::string& caller_domain, const std::string& caller_spiffe_id) {
  auto src = parse_ip(source.ip);
  auto dst = parse_ip(destination.ip);
  if (!src || !dst) {
    return make_error(ErrorCode::kInvalidArgument,
                      "PROXY v2 needs IP addresses, got " + source.ip + " and " + destination.ip);
  }
  const bool v6 = src->v6 || dst->v6;
  if (v6) {
    src = to_v6(*src);
    dst = to_v6(*dst);
  }
  const size_t addr_len = v6 ? 16 : 4;
  std::string body;
  body.append(reinterpret_cast<const char*>(src->bytes.data()), addr_len);
  body.append(reinterpret_cast<const char*>(dst->bytes.data()), addr_len);
  put16(body, source.port);
  put16(body, destination.port);
  put_tlv(body, kTlvCallerDomain, caller_domain);
  put_tlv(body, kTlvCallerSpiffeId, caller_spiffe_id);
  if (body.size() > 0xFFFF) return make_error(ErrorCode::kInvalidArgument, "PROXY v2 header too long");
  std::string out(reinterpret_cast<const char*>(kSignature.data()), kSignature.size());
  out.push_back(static_cast<char>(kVersion2Proxy));
  out.push_back(static_cast<char>(v6 ? kTcpOverIpv6 : kTcpOverIpv4));
  put16(out, body.size());
  return out + body;
}

ProxyPrefix proxy_prefix(std::string_view start) {
  const std::string_view v2(reinterpret_cast<const char*>(kSignature.data()), kSignature.size());
  bool undecided = false;
  for (const std::string_view signature : {std::string_view("PROXY "), v2}) {
    if (start.size() >= signature.size()) {
      if (start.substr(0, signature.size()) == signature) return ProxyPrefix::kSignature;
    } else if (signature.substr(0, start.size()) == start) {
      undecided = true;
    }
  }
  return undecided ? ProxyPrefix::kUndecided : ProxyPrefix::kNone;
}

}  // namespace meshfed::gateway
