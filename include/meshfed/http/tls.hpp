// TLS contexts for meshfed's listeners and clients. New contexts are built on reload and
// swapped in; connections already established keep the one they started with.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "meshfed/core/openssl_fwd.hpp"
#include "meshfed/core/result.hpp"

namespace boost::asio::ssl {
class context;
}

namespace meshfed::http {

using TlsContext = boost::asio::ssl::context;

struct ServerTlsOptions {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  bool tls13_only = false;  // peer API and gateways; the admin API allows 1.2 with AEAD suites
  // Mutual TLS: installs client-certificate verification on the native SSL_CTX*, and keeps
  // whatever that verification refers to alive as long as the context.
  std::function<void(ssl_ctx_st* ssl_ctx)> configure;
  std::shared_ptr<const void> keep_alive;
  // Session tickets and the session cache. Off for the peer API: meshfed's own client never
  // resumes, so every ticket (two per handshake, each carrying the peer's certificate) and
  // every cached session would be work and memory spent for nothing.
  bool resumption = true;
  // Where cert_file and key_file come from in the config ("tls", "gateways.ingress"): errors
  // name "tls.key_file: cannot read /etc/...: Permission denied".
  std::string setting = "tls";
};

// TLS 1.3 lets a client ask for new traffic keys at any time, each a key derivation for the
// server (and a reply when it asks for the server's too). Every server connection takes this
// many; the next one ends it as if the client had closed it. A client that updates its keys as
// RFC 8446 asks (about every 2^24 records) gets there after more than 2^31 records.
inline constexpr int kMaxKeyUpdatesPerConnection = 128;

Result<std::shared_ptr<TlsContext>> make_server_context(const ServerTlsOptions& o);

struct ClientTlsOptions {
  std::filesystem::path ca_file;    // the server must chain to it (unless `configure` verifies)
  std::filesystem::path cert_file;  // optional client certificate
  std::filesystem::path key_file;
  std::function<void(ssl_ctx_st* ssl_ctx)> configure;  // e.g. PeerTrust::expect_server
  std::shared_ptr<const void> keep_alive;              // what `configure` made the context refer to
  std::string setting = "tls";                         // as for ServerTlsOptions
};

Result<std::shared_ptr<TlsContext>> make_client_context(const ClientTlsOptions& o);

}  // namespace meshfed::http
