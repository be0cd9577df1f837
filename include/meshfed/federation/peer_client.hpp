// The one way a broker calls a peer's broker: TLS 1.3, our broker certificate as the client
// certificate, and the server accepted only as that peer's broker identity under its own CA.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "meshfed/config/config.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/http/client.hpp"
#include "meshfed/pki/peer_trust.hpp"

namespace meshfed::federation {

struct PeerEndpoint {
  std::string peer;
  std::string url;  // https://host:port of the peer's broker
  std::shared_ptr<const pki::PeerTrust> trust;
  config::TlsFiles tls;  // our broker certificate
};

Result<std::unique_ptr<http::HttpsClient>> connect_to_peer(const PeerEndpoint& to, std::chrono::seconds timeout,
                                                           size_t body_limit);

}  // namespace meshfed::federation
