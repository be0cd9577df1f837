#include "meshfed/pki/peer_trust.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "meshfed/core/openssl_handles.hpp"
#include "meshfed/pki/pki.hpp"
#include "support/test_support.hpp"

namespace meshfed::pki {
namespace {

using namespace std::chrono_literals;

// Domains pci (us), internal and dmz, each with its own CA; pci trusts internal and dmz.
class PeerTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const std::string d : {"pci", "internal", "dmz"}) {
      InitOptions o;
      o.domain = d;
      ASSERT_TRUE(init_domain(dir_ / d, o).ok());
    }
    auto t = PeerTrust::load(
        {{"internal", "internal", dir_ / "internal/ca.pem", {}}, {"dmz", "dmz", dir_ / "dmz/ca.pem", {}}},
        Role::kBroker);
    ASSERT_TRUE(t.ok());
    trust_ = *t;
  }

  Result<std::string> identify(const std::filesystem::path& pem) {
    BIO* bio = BIO_new_file(pem.c_str(), "r");
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    auto r = trust_->identify(x, nullptr);
    X509_free(x);
    return r;
  }

  std::filesystem::path forge(const std::string& ca_domain, CustomLeaf spec, const std::string& name) {
    const auto cert = dir_ / (name + ".pem");
    EXPECT_TRUE(issue_custom_leaf(dir_ / ca_domain, spec, cert, dir_ / (name + "-key.pem")).ok());
    return cert;
  }

  // A TLS 1.3 handshake in memory: `client_domain`'s broker certificate against pci's broker
  // behind a context that requires client certificates and verifies them with `server_trust`.
  testing::MemoryTls handshake(const PeerTrust& server_trust, const std::string& client_domain) {
    const OpenSslHandle<SSL_CTX, SSL_CTX_free> server(SSL_CTX_new(TLS_method())), client(SSL_CTX_new(TLS_method()));
    const auto use = [&](SSL_CTX* ctx, const std::string& d) {
      return SSL_CTX_use_certificate_chain_file(ctx, (dir_ / d / "broker.pem").c_str()) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, (dir_ / d / "broker-key.pem").c_str(), SSL_FILETYPE_PEM) == 1;
    };
    if (!use(server.get(), "pci") || !use(client.get(), client_domain)) return {};
    SSL_CTX_set_min_proto_version(server.get(), TLS1_3_VERSION);
    server_trust.require_client_certificates(server.get());
    return testing::handshake_in_memory(server.get(), client.get());
  }

  std::shared_ptr<const PeerTrust> load(const std::vector<std::string>& domains) {
    std::vector<TrustedPeer> peers;
    for (const auto& d : domains) peers.push_back({d, d, dir_ / d / "ca.pem", {}});
    return std::move(PeerTrust::load(peers, Role::kBroker)).value();
  }

  testing::TempDir dir_;
  std::shared_ptr<const PeerTrust> trust_;
};

// A peer added through the API reaches a separate gateway as PEM text, not a file: the same
// trust, the same verdicts; a text that is no certificate is refused, never trusted.
TEST_F(PeerTrustTest, CasGivenAsPemTextTrustAsTheirFileDoes) {
  const auto pems = testing::must(certificates_pem(dir_ / "internal/ca.pem"));
  const auto from_text = testing::must(PeerTrust::load({{"internal", "internal", {}, pems}}, Role::kBroker));
  const auto tls = handshake(*from_text, "internal");
  ASSERT_TRUE(tls);
  EXPECT_EQ(from_text->peer_of(tls.server.get()), "internal");
  EXPECT_FALSE(handshake(*from_text, "dmz"));
  const auto bad =
      PeerTrust::load({{"internal", "internal", {}, {"-----BEGIN CERTIFICATE-----\nno\n"}}}, Role::kBroker);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("peer internal"), std::string::npos) << bad.error().message;
}

TEST_F(PeerTrustTest, AConnectionIsKnownByItsHandshakesVerdictAndAnotherTrustVerifiesAgain) {
  const auto tls = handshake(*trust_, "internal");
  ASSERT_TRUE(tls);
  EXPECT_EQ(trust_->peer_of(tls.server.get()), "internal");
  // A reload gives a new trust: the old one's verdict is not taken on its word.
  EXPECT_EQ(load({"dmz"})->peer_of(tls.server.get()), "") << "internal's CA was dropped";
  EXPECT_EQ(load({"internal"})->peer_of(tls.server.get()), "internal") << "verified again, still trusted";
  EXPECT_FALSE(handshake(*load({"dmz"}), "internal")) << "a CA we do not trust fails the handshake itself";
}

TEST_F(PeerTrustTest, PeerBrokerCertificateIdentifiesThatPeer) {
  EXPECT_EQ(*identify(dir_ / "internal/broker.pem"), "internal");
  EXPECT_EQ(*identify(dir_ / "dmz/broker.pem"), "dmz");
}

TEST_F(PeerTrustTest, CertificateUnderOneCaClaimingAnotherPeerIsRejected) {
  CustomLeaf spec;
  spec.uris = {"spiffe://internal/meshfed/broker"};
  auto r = identify(forge("dmz", spec, "impostor"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("internal's CA"), std::string::npos) << r.error().message;
}

TEST_F(PeerTrustTest, OurOwnCaNeverAuthenticatesAPeer) {
  CustomLeaf spec;
  spec.uris = {"spiffe://internal/meshfed/broker"};
  EXPECT_FALSE(identify(forge("pci", spec, "ours")).ok());
  EXPECT_FALSE(identify(dir_ / "pci/broker.pem").ok());  // our own identity is no peer
}

TEST_F(PeerTrustTest, TwoUriSansAreRejected) {
  CustomLeaf spec;
  spec.uris = {"spiffe://internal/meshfed/broker", "spiffe://internal/meshfed/admin"};
  auto r = identify(forge("internal", spec, "two"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("2 URI SANs"), std::string::npos);
}

TEST_F(PeerTrustTest, ExpiredCertificateIsRejected) {
  CustomLeaf spec;
  spec.uris = {"spiffe://internal/meshfed/broker"};
  spec.not_before = -48h;
  spec.not_after = -24h;
  auto r = identify(forge("internal", spec, "expired"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("expired"), std::string::npos) << r.error().message;
}

TEST_F(PeerTrustTest, IdentityMustMatchExactlyNotByPrefix) {
  CustomLeaf spec;
  spec.uris = {"spiffe://internal/meshfed/broker/extra"};
  EXPECT_FALSE(identify(forge("internal", spec, "suffix")).ok());
  EXPECT_FALSE(identify(dir_ / "internal/egress.pem").ok());  // another role of the right peer
}

}  // namespace
}  // namespace meshfed::pki
