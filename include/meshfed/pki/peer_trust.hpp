// Who is on the other end of a mutually authenticated connection. A certificate belongs to
// peer P only if its single URI SAN is exactly spiffe://<P's trust domain>/meshfed/<role> and
// it chains to P's own CA bundle: the trust bundle is chosen by the trust domain the
// certificate claims, never by trying every CA we know. Our own CA never authenticates a peer.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/core/result.hpp"

namespace meshfed::pki {

struct TrustedPeer {
  std::string domain;
  std::string trust_domain;
  std::filesystem::path ca_file;
};

class PeerTrust {
 public:
  // `role` is the identity expected of callers: "broker", "egress" or "ingress".
  static Result<std::shared_ptr<const PeerTrust>> load(const std::vector<TrustedPeer>& peers, std::string role);
  ~PeerTrust();

  // Makes `ssl_ctx` (an SSL_CTX*) require a client certificate and accept it only as above.
  // The context must not outlive this object.
  void require_client_certificates(void* ssl_ctx) const;
  // Makes a client `ssl_ctx` accept the server only as `domain`'s identity.
  Status expect_server(void* ssl_ctx, const std::string& domain) const;

  // The peer domain of a certificate chain (leaf first, as PEM-less X509 pointers), or why not.
  Result<std::string> identify(void* leaf_x509, void* untrusted_chain) const;
  // The verified peer domain of an established connection (an SSL*), or empty.
  std::string peer_of(void* ssl) const;

  const std::string& role() const { return role_; }

 private:
  struct Entry;
  PeerTrust() = default;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::string role_;
};

// The URI SANs of a certificate (an X509*).
std::vector<std::string> uri_sans(void* x509);

}  // namespace meshfed::pki
