// Owning handles for OpenSSL objects: each frees its object with the matching *_free when it
// goes, on every path, so no function that builds certificates or checks them has to pair a
// _new with a _free by hand.
#pragma once

#include <openssl/bn.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace meshfed {

template <typename T, void (*Free)(T*)>
struct OpenSslFree {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using OpenSslHandle = std::unique_ptr<T, OpenSslFree<T, Free>>;

using BignumPtr = OpenSslHandle<BIGNUM, BN_free>;
using BioPtr = OpenSslHandle<BIO, BIO_free_all>;
using PkeyPtr = OpenSslHandle<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = OpenSslHandle<X509, X509_free>;
using X509ExtensionPtr = OpenSslHandle<X509_EXTENSION, X509_EXTENSION_free>;
using X509StorePtr = OpenSslHandle<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = OpenSslHandle<X509_STORE_CTX, X509_STORE_CTX_free>;
using GeneralNamesPtr = OpenSslHandle<GENERAL_NAMES, GENERAL_NAMES_free>;
using SslPtr = OpenSslHandle<SSL, SSL_free>;
using SslSessionPtr = OpenSslHandle<SSL_SESSION, SSL_SESSION_free>;

}  // namespace meshfed
