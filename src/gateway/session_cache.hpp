// TLS session resumption for the egress: the newest session per (peer ingress, SNI), so that
// repeated connections to one import skip the full mTLS handshake.
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace meshfed::gateway {

// Makes a client context keep the sessions its connections receive (owned by the context).
void enable_session_cache(SSL_CTX* ctx);
// Offers the cached session for `key`, if any, and files the sessions `ssl` receives under it.
void resume_session(SSL* ssl, const std::string& key);

}  // namespace meshfed::gateway
