// Who is on the other end of a mutually authenticated connection. A certificate belongs to
// peer P only if its single URI SAN is exactly spiffe://<P's trust domain>/meshfed/<role> and
// it chains to P's own CA bundle: the trust bundle is chosen by the trust domain the
// certificate claims, never by trying every CA we know. Our own CA never authenticates a peer.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshfed/core/openssl_fwd.hpp"
#include "meshfed/core/result.hpp"

namespace meshfed::pki {

struct TrustedPeer {
  std::string domain;
  std::string trust_domain;
  std::filesystem::path ca_file;
  std::vector<std::string> ca_pem;  // instead of ca_file: a peer's CAs as its bundle carried them
};

// The part of a peer domain a certificate speaks for: the last segment of its SPIFFE ID.
enum class Role { kBroker, kIngress, kEgress };
std::string_view to_string(Role r);

class PeerTrust {
 public:
  // `role`: the identity expected of the other end.
  static Result<std::shared_ptr<const PeerTrust>> load(const std::vector<TrustedPeer>& peers, Role role);
  ~PeerTrust();

  // Makes `ssl_ctx` require a client certificate and accept it only as above.
  // The context must not outlive this object.
  void require_client_certificates(ssl_ctx_st* ssl_ctx) const;
  // Makes a client `ssl_ctx` accept the server only as `domain`'s identity.
  Status expect_server(ssl_ctx_st* ssl_ctx, const std::string& domain) const;

  // The peer domain of a certificate chain (the leaf and what the peer sent with it), or why not.
  Result<std::string> identify(x509_st* leaf, stack_st_X509* untrusted_chain) const;
  // The verified peer domain of an established connection, or empty: what this trust's
  // handshake verification found, or (a connection verified by another trust, or resumed)
  // a verification now.
  std::string peer_of(ssl_st* ssl) const;

  Role role() const { return role_; }

 private:
  struct Entry;
  PeerTrust() = default;
  // The handshake's verification (SSL_CTX_set_cert_verify_callback); it remembers on the
  // connection whom it verified, for peer_of.
  static int verify_as_peer(x509_store_ctx_st* ctx, void* self);
  std::vector<std::unique_ptr<Entry>> entries_;
  Role role_ = Role::kBroker;
  uint64_t serial_ = 0;  // unique per loaded trust, never reused
};

// The URI SANs of a certificate.
std::vector<std::string> uri_sans(x509_st* x509);

}  // namespace meshfed::pki
