#include "meshfed/pki/peer_trust.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "meshfed/core/openssl_handles.hpp"

#include <atomic>

namespace meshfed::pki {

struct PeerTrust::Entry {
  TrustedPeer peer;
  std::string expected_id;
  X509StorePtr store;
};

PeerTrust::~PeerTrust() = default;

std::vector<std::string> uri_sans(X509* x509) {
  std::vector<std::string> out;
  GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

std::string_view to_string(Role r) {
  switch (r) {
    case Role::kBroker:
      return "broker";
    case Role::kIngress:
      return "ingress";
    case Role::kEgress:
      return "egress";
  }
  return "broker";
}

namespace {

// Adds each PEM certificate to `store`; false if one does not parse.
bool add_certificates(X509_STORE* store, const std::vector<std::string>& pems) {
  for (const auto& pem : pems) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!cert || X509_STORE_add_cert(store, cert.get()) != 1) return false;
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<const PeerTrust>> PeerTrust::load(const std::vector<TrustedPeer>& peers, Role role) {
  static std::atomic<uint64_t> loaded{0};
  std::shared_ptr<PeerTrust> trust(new PeerTrust());
  trust->role_ = role;
  trust->serial_ = ++loaded;
  for (const auto& p : peers) {
    auto e = std::make_unique<Entry>();
    e->peer = p;
    e->expected_id = "spiffe://" + p.trust_domain + "/meshfed/" + std::string(to_string(role));
    e->store.reset(X509_STORE_new());
    const bool loaded_ca = e->store && (p.ca_pem.empty() ? X509_STORE_load_file(e->store.get(), p.ca_file.c_str()) == 1
                                                         : add_certificates(e->store.get(), p.ca_pem));
    if (!loaded_ca) {
      ERR_clear_error();
      return make_error(ErrorCode::kInvalidArgument,
                        "cannot load CA bundle " +
                            (p.ca_pem.empty() ? p.ca_file.string() : std::string("(in memory)")) + " of peer " +
                            p.domain);
    }
    trust->entries_.push_back(std::move(e));
  }
  return std::shared_ptr<const PeerTrust>(trust);
}

Result<std::string> PeerTrust::identify(X509* leaf, STACK_OF(X509) * untrusted_chain) const {
  if (!leaf) return make_error(ErrorCode::kUnauthenticated, "no certificate");
  const auto uris = uri_sans(leaf);
  if (uris.size() != 1) {
    return make_error(ErrorCode::kUnauthenticated, "certificate has " + std::to_string(uris.size()) +
                                                       " URI SANs; exactly one SPIFFE ID is required");
  }
  const Entry* match = nullptr;
  for (const auto& e : entries_) {
    if (e->expected_id == uris[0]) match = e.get();
  }
  if (!match)
    return make_error(ErrorCode::kUnauthenticated,
                      "identity " + uris[0] + " is not a configured peer's " + std::string(to_string(role_)));
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), match->store.get(), leaf, untrusted_chain) != 1)
    return make_error(ErrorCode::kUnauthenticated, "cannot verify " + uris[0] + ": out of memory");  // fails closed
  // An ingress is only ever a server; brokers and egresses must be able to call (client EKU).
  // Only the first purpose set on a context counts (OpenSSL's purpose_inherit): set one.
  X509_STORE_CTX_set_purpose(ctx.get(), role_ == Role::kIngress ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  if (ok != 1) {
    return make_error(ErrorCode::kUnauthenticated, "certificate claiming " + uris[0] + " does not verify against " +
                                                       match->peer.domain +
                                                       "'s CA: " + X509_verify_cert_error_string(err));
  }
  return match->peer.domain;
}

namespace {

// An ex_data index (of SSL or SSL_CTX objects, by `ExDataClass`) whose pointer, a T, is
// deleted with the object.
template <typename T, int ExDataClass>
int deleting_ex_index() {
  static const int idx =
      CRYPTO_get_ex_new_index(ExDataClass, 0, nullptr, nullptr, nullptr,
                              [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<T*>(ptr); });
  return idx;
}

// The handshake's own verdict, kept on the connection so that asking who is on it afterwards
// does not verify the chain a second time. `trust` is the serial of the PeerTrust that gave
// it: any other (a reload's) verifies again.
struct Verdict {
  uint64_t trust;
  std::string domain;
};

int verdict_index() { return deleting_ex_index<Verdict, CRYPTO_EX_INDEX_SSL>(); }

}  // namespace

int PeerTrust::verify_as_peer(X509_STORE_CTX* ctx, void* self) {
  const auto* trust = static_cast<const PeerTrust*>(self);
  auto who = trust->identify(X509_STORE_CTX_get0_cert(ctx), X509_STORE_CTX_get0_untrusted(ctx));
  if (!who) {
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  if (auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()))) {
    if (auto* kept = static_cast<Verdict*>(SSL_get_ex_data(ssl, verdict_index()))) {
      *kept = Verdict{trust->serial_, *who};
    } else if (auto verdict = std::make_unique<Verdict>(Verdict{trust->serial_, *who});
               SSL_set_ex_data(ssl, verdict_index(), verdict.get()) == 1) {
      verdict.release();
    }
  }
  return 1;
}

namespace {

struct ExpectedServer {
  const PeerTrust* trust;
  std::string domain;
};

int verify_expected_server(X509_STORE_CTX* ctx, void* arg) {
  const auto* expected = static_cast<const ExpectedServer*>(arg);
  auto who = expected->trust->identify(X509_STORE_CTX_get0_cert(ctx), X509_STORE_CTX_get0_untrusted(ctx));
  if (!who || *who != expected->domain) {
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  return 1;
}

int expected_server_index() { return deleting_ex_index<ExpectedServer, CRYPTO_EX_INDEX_SSL_CTX>(); }

}  // namespace

void PeerTrust::require_client_certificates(SSL_CTX* ctx) const {
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, verify_as_peer, const_cast<PeerTrust*>(this));
}

Status PeerTrust::expect_server(SSL_CTX* ctx, const std::string& domain) const {
  auto* expected = new ExpectedServer{this, domain};
  SSL_CTX_set_ex_data(ctx, expected_server_index(), expected);  // freed with the context
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, verify_expected_server, expected);
  return {};
}

std::string PeerTrust::peer_of(SSL* ssl) const {
  if (const auto* verdict = static_cast<const Verdict*>(SSL_get_ex_data(ssl, verdict_index()));
      verdict && verdict->trust == serial_) {
    return verdict->domain;
  }
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return {};
  auto who = identify(cert, SSL_get_peer_cert_chain(ssl));
  return who ? *who : std::string();
}

}  // namespace meshfed::pki
