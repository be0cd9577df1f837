// PROXY protocol version 2 (haproxy.org/download/2.9/doc/proxy-protocol.txt), as the ingress
// sends it ahead of the caller's bytes for exports with `proxy_protocol: true`: the addresses
// the ingress sees, and who the caller is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "meshfed/core/result.hpp"

namespace meshfed::gateway {

inline constexpr uint8_t kTlvCallerDomain = 0xE0;
inline constexpr uint8_t kTlvCallerSpiffeId = 0xE1;

struct ProxyEndpoint {
  std::string ip;  // IPv4 or IPv6 literal
  uint16_t port = 0;
};

// A PROXY (not LOCAL) command over TCP from `source` to `destination`, with the caller's
// domain and SPIFFE ID as TLVs. Mixed families are sent as IPv6 (IPv4-mapped).
Result<std::string> proxy_v2_header(const ProxyEndpoint& source, const ProxyEndpoint& destination,
                                    const std::string& caller_domain, const std::string& caller_spiffe_id);

// Whether a client's stream that begins with `start` begins with a PROXY header of its own (v1
// "PROXY " or the v2 signature): only the ingress may put one in front of a service, so such
// a stream is refused at both gateways. kUndecided while `start` is a shorter prefix of one.
enum class ProxyPrefix { kNone, kUndecided, kSignature };
ProxyPrefix proxy_prefix(std::string_view start);

}  // namespace meshfed::gateway
