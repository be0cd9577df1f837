#include "meshfed/pki/signing.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstdio>
#include <vector>

#include "meshfed/core/openssl_handles.hpp"

namespace meshfed::pki {

namespace {

using MdCtxPtr = OpenSslHandle<EVP_MD_CTX, EVP_MD_CTX_free>;

Error failed(const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, what + ": " + ERR_reason_error_string(ERR_get_error()));
}

template <typename T, T* (*Read)(BIO*, T**, pem_password_cb*, void*)>
T* read_pem(const std::filesystem::path& file) {
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  return bio ? Read(bio.get(), nullptr, nullptr, nullptr) : nullptr;
}

}  // namespace

Result<Signer> Signer::load(const std::filesystem::path& cert_file, const std::filesystem::path& key_file) {
  PkeyPtr key(read_pem<EVP_PKEY, PEM_read_bio_PrivateKey>(key_file));
  if (!key) return make_error(ErrorCode::kInvalidArgument, "cannot read the private key " + key_file.string());
  X509Ptr cert(read_pem<X509, PEM_read_bio_X509>(cert_file));
  if (!cert) return make_error(ErrorCode::kInvalidArgument, "cannot read the certificate " + cert_file.string());
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return make_error(ErrorCode::kInvalidArgument,
                      "the key " + key_file.string() + " does not belong to the certificate " + cert_file.string());
  }
  Signer s;
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert.get(), &der);
  if (n <= 0) return failed("cannot encode " + cert_file.string());
  s.certificate_der_.assign(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  s.key_ = std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
  return s;
}

std::string Signer::sign(std::string_view text) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t n = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1) {
    ERR_clear_error();
    return {};  // a key that cannot sign was refused by load(); an empty signature verifies nowhere
  }
  std::string sig(n, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                     reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1) {
    ERR_clear_error();
    return {};
  }
  sig.resize(n);
  return base64_encode(sig);
}

Status verify_signature(std::string_view certificate_der, std::string_view text, std::string_view signature) {
  const auto* p = reinterpret_cast<const unsigned char*>(certificate_der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(certificate_der.size())));
  if (!cert) {
    ERR_clear_error();
    return make_error(ErrorCode::kUntrusted, "no certificate to check the signature against");
  }
  const auto sig = base64_decode(signature);
  if (!sig) return make_error(ErrorCode::kUntrusted, "the signature is not base64");
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok = key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                                   reinterpret_cast<const unsigned char*>(text.data()), text.size()) == 1;
  ERR_clear_error();
  if (!ok) {
    return make_error(ErrorCode::kUntrusted,
                      "the signature was not made by the key of the certificate the signer presented");
  }
  return {};
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0 ||
      text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
          std::string_view::npos) {
    return std::nullopt;
  }
  const size_t padding = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
  if (text.substr(0, text.size() - padding).find('=') != std::string_view::npos) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);  // EVP_DecodeBlock counts the padding as zero bytes
  return out;
}

}  // namespace meshfed::pki
