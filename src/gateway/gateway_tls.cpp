#include <openssl/ssl.h>

#include <map>

#include "gateway/session_cache.hpp"
#include "meshfed/core/mutex.hpp"
#include "meshfed/core/openssl_handles.hpp"
#include "meshfed/gateway/gateway.hpp"
#include "meshfed/pki/pki.hpp"

namespace meshfed::gateway {
namespace {

struct SessionCache {
  Mutex mu;
  std::map<std::string, SslSessionPtr> sessions GUARDED_BY(mu);
};

int cache_index() {
  static const int idx = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<SessionCache*>(ptr); });
  return idx;
}

int key_index() {
  static const int idx = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); });
  return idx;
}

int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* cache = static_cast<SessionCache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cache_index()));
  const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, key_index()));
  if (!cache || !key) return 0;
  MutexLock lock(cache->mu);
  cache->sessions[*key].reset(session);
  return 1;  // we keep the reference
}

constexpr unsigned char kIngressSessionContext[] = "meshfed-ingress";

// Without read-ahead OpenSSL reads each record with two system calls (header, then body);
// with it, one read takes in as many records as the buffer holds.
void read_in_bulk(SSL_CTX* ctx) {
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
}

}  // namespace

void enable_session_cache(SSL_CTX* ctx) {
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  SSL_CTX_set_ex_data(ctx, cache_index(), new SessionCache());
}

void resume_session(SSL* ssl, const std::string& key) {
  SSL_set_ex_data(ssl, key_index(), new std::string(key));
  auto* cache = static_cast<SessionCache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cache_index()));
  if (!cache) return;
  MutexLock lock(cache->mu);
  auto it = cache->sessions.find(key);
  if (it != cache->sessions.end() && SSL_SESSION_is_resumable(it->second.get())) SSL_set_session(ssl, it->second.get());
}

Result<GatewayTls> load_gateway_tls(const config::Config& c, const std::vector<ApiPeer>& api_peers) {
  GatewayTls out;
  std::vector<pki::TrustedPeer> peers;
  for (const auto& p : c.peers) peers.push_back({p.domain, p.trust_domain, p.ca_file, {}});
  for (const auto& p : api_peers) {
    if (!c.find_peer(p.domain)) peers.push_back({p.domain, p.trust_domain, {}, p.ca_pem});  // the file wins
  }
  if (const auto& in = c.gateways.ingress) {
    MESHFED_ASSIGN_OR_RETURN(auto callers, pki::PeerTrust::load(peers, pki::Role::kEgress));
    out.ingress_callers = callers;
    http::ServerTlsOptions o{in->cert_file, in->key_file, true, nullptr, out.ingress_callers};
    o.setting = "gateways.ingress";
    o.configure = [t = out.ingress_callers.get()](SSL_CTX* ctx) {
      t->require_client_certificates(ctx);
      // Resumed sessions keep the verified client certificate; one ticket per handshake is enough.
      SSL_CTX_set_session_id_context(ctx, kIngressSessionContext, sizeof kIngressSessionContext - 1);
      SSL_CTX_set_num_tickets(ctx, 1);
      read_in_bulk(ctx);
    };
    MESHFED_ASSIGN_OR_RETURN(auto ctx, http::make_server_context(o));
    out.ingress = ctx;
    MESHFED_ASSIGN_OR_RETURN(auto info, pki::read_certificate(in->cert_file));
    out.ingress_cert_expiry = info.not_after_unix;
  }
  if (const auto& eg = c.gateways.egress) {
    MESHFED_ASSIGN_OR_RETURN(auto servers, pki::PeerTrust::load(peers, pki::Role::kIngress));
    out.egress_servers = servers;
    for (const auto& p : peers) {
      http::ClientTlsOptions o;
      o.cert_file = eg->cert_file;
      o.key_file = eg->key_file;
      o.setting = "gateways.egress";
      o.configure = [t = servers.get(), domain = p.domain, resume = eg->resume_sessions](SSL_CTX* native) {
        (void)t->expect_server(native, domain);
        if (resume) enable_session_cache(native);
        read_in_bulk(native);
      };
      o.keep_alive = servers;
      MESHFED_ASSIGN_OR_RETURN(auto ctx, http::make_client_context(o));
      out.egress[p.domain] = ctx;
    }
    MESHFED_ASSIGN_OR_RETURN(auto info, pki::read_certificate(eg->cert_file));
    out.egress_cert_expiry = info.not_after_unix;
  }
  return out;
}

}  // namespace meshfed::gateway
