// Signatures over short texts by a broker's key, checked against the certificate that proved
// the signer's identity in a mutually authenticated handshake: the audit heads peers witness
// and countersign. Whoever checks a signature has already verified that certificate against
// the signer's own CA and SPIFFE ID (peer_trust.hpp); a signature by any other key is refused.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "meshfed/core/openssl_fwd.hpp"
#include "meshfed/core/result.hpp"

namespace meshfed::pki {

class Signer {
 public:
  // The private key in `key_file` (PEM), with the certificate it belongs to in `cert_file`:
  // refused when they do not match, so that what this signs verifies against what it presents.
  static Result<Signer> load(const std::filesystem::path& cert_file, const std::filesystem::path& key_file);

  // SHA-256 with the key (ECDSA P-256 for the keys meshfed issues), DER, base64. Thread-safe.
  std::string sign(std::string_view text) const;
  // The certificate as DER, as a peer sees it in the handshake.
  const std::string& certificate_der() const { return certificate_der_; }

 private:
  std::shared_ptr<evp_pkey_st> key_;
  std::string certificate_der_;
};

// Whether `signature` (base64) is the signature over `text` of the key in `certificate_der`.
Status verify_signature(std::string_view certificate_der, std::string_view text, std::string_view signature);

std::string base64_encode(std::string_view bytes);
// Nothing when `text` is not base64 (standard alphabet, padded).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace meshfed::pki
