#include "meshfed/http/tls.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace meshfed::http {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites limited to forward-secret AEAD; TLS 1.3 suites are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";

Error tls_error(const std::string& what) {
  std::string detail;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail += (detail.empty() ? "" : "; ") + std::string(buf);
  }
  return make_error(ErrorCode::kInvalidArgument, what + (detail.empty() ? "" : ": " + detail));
}

// The context, owning `keep_alive` too: one allocation holding both, handed out as the
// context (aliasing constructor).
std::shared_ptr<ssl::context> owning(std::shared_ptr<ssl::context> ctx, std::shared_ptr<const void> keep_alive) {
  if (!keep_alive) return ctx;
  auto both = std::make_shared<std::pair<std::shared_ptr<const void>, std::shared_ptr<ssl::context>>>(
      std::move(keep_alive), std::move(ctx));
  return std::shared_ptr<ssl::context>(both, both->second.get());
}

// Key exchange on curves only: a client offering only FFDHE (ffdhe8192 costs the server
// ~120 ms of CPU per handshake) finds no common group and is refused at once.
constexpr const char* kGroups = "X25519:P-256:P-384";

}  // namespace

Result<std::shared_ptr<TlsContext>> make_server_context(const ServerTlsOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, o.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) return tls_error("cannot set cipher list");
  if (SSL_CTX_set1_groups_list(native, kGroups) != 1) return tls_error("cannot set key exchange groups");
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(native, o.cert_file.c_str()) != 1) {
    return tls_error("cannot load certificate " + o.cert_file.string());
  }
  if (SSL_CTX_use_PrivateKey_file(native, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return tls_error("cannot load key " + o.key_file.string());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return tls_error("key " + o.key_file.string() + " does not match certificate " + o.cert_file.string());
  }
  if (o.configure) o.configure(native);
  return owning(std::move(ctx), o.keep_alive);
}

Result<std::shared_ptr<TlsContext>> make_client_context(const ClientTlsOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) return tls_error("cannot set cipher list");
  if (SSL_CTX_set1_groups_list(native, kGroups) != 1) return tls_error("cannot set key exchange groups");
  ERR_clear_error();
  if (o.configure) {
    SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);  // peer connections are TLS 1.3
    o.configure(native);
  } else {
    if (o.ca_file.empty()) return make_error(ErrorCode::kInvalidArgument, "a CA file is required to verify the server");
    if (SSL_CTX_load_verify_locations(native, o.ca_file.c_str(), nullptr) != 1) {
      return tls_error("cannot load CA file " + o.ca_file.string());
    }
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(native, o.cert_file.c_str()) != 1) {
      return tls_error("cannot load client certificate " + o.cert_file.string());
    }
    if (SSL_CTX_use_PrivateKey_file(native, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return tls_error("cannot load client key " + o.key_file.string());
    }
  }
  return owning(std::move(ctx), o.keep_alive);
}

}  // namespace meshfed::http
