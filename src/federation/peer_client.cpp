#include "meshfed/federation/peer_client.hpp"

namespace meshfed::federation {

Result<std::unique_ptr<http::HttpsClient>> connect_to_peer(const PeerEndpoint& to, std::chrono::seconds timeout,
                                                           size_t body_limit) {
  http::ClientOptions co;
  if (!http::parse_https_url(to.url, co.host, co.port)) {
    return make_error(ErrorCode::kInvalidArgument, "peer " + to.peer + ": bad url " + to.url);
  }
  co.cert_file = to.tls.cert_file;
  co.key_file = to.tls.key_file;
  co.timeout = timeout;
  co.body_limit = body_limit;
  co.configure_tls = [trust = to.trust, peer = to.peer](ssl_ctx_st* ctx) { (void)trust->expect_server(ctx, peer); };
  co.keep_alive = to.trust;
  return http::HttpsClient::create(co);
}

}  // namespace meshfed::federation
