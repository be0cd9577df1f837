// An ingress route for tests, set field by field: built from one braced temporary, GCC 12 at
// -O3 reports its nested strings as maybe uninitialised (a false positive).
#pragma once

#include <string>

#include "meshfed/gateway/routes.hpp"

namespace meshfed::testing {

inline gateway::IngressRoute ingress_route(const std::string& sni, const std::string& export_id,
                                           const std::string& peer, const std::string& host, uint16_t port,
                                           bool proxy_protocol, int64_t expires_at_ms) {
  gateway::IngressRoute r;
  r.sni = sni;
  r.export_id = export_id;
  r.peer = peer;
  r.target.host = host;
  r.target.port = port;
  r.proxy_protocol = proxy_protocol;
  r.expires_at_ms = expires_at_ms;
  return r;
}

}  // namespace meshfed::testing
