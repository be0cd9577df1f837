// Loading a listener's certificate and key: each failure names the setting, the file and why.
#include "meshfed/http/tls.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/ssl/context.hpp>
#include <gtest/gtest.h>

#include "meshfed/core/openssl_handles.hpp"

#include "support/test_support.hpp"

namespace meshfed::http {
namespace {

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::make_pki(dir_ / "pki", "pci"); }

  std::string server_error(const std::filesystem::path& cert, const std::filesystem::path& key,
                           const std::string& setting = "tls") {
    ServerTlsOptions o{cert, key, true, nullptr, nullptr};
    o.setting = setting;
    auto ctx = make_server_context(o);
    return ctx.ok() ? "" : ctx.error().message;
  }

  std::filesystem::path pki(const std::string& name) const { return dir_ / "pki" / name; }

  testing::TempDir dir_;
};

TEST_F(TlsContextTest, AGoodPairLoads) { EXPECT_EQ(server_error(pki("broker.pem"), pki("broker-key.pem")), ""); }

TEST_F(TlsContextTest, AnUnreadableFileIsNamedWithItsSettingAndTheOsReason) {
  EXPECT_EQ(server_error(pki("broker.pem"), pki("missing-key.pem")),
            "tls.key_file: cannot read " + pki("missing-key.pem").string() + ": No such file or directory");
  EXPECT_EQ(server_error(pki("broker.pem"), dir_.path(), "gateways.ingress"),
            "gateways.ingress.key_file: cannot read " + dir_.path().string() + ": not a regular file");
  EXPECT_EQ(server_error(pki("gone.pem"), pki("broker-key.pem")),
            "tls.cert_file: cannot read " + pki("gone.pem").string() + ": No such file or directory");
}

TEST_F(TlsContextTest, ContentThatIsNotWhatTheSettingNeedsSaysSo) {
  testing::write_file(dir_ / "junk.pem", "not a key\n");
  EXPECT_EQ(server_error(pki("broker.pem"), dir_ / "junk.pem")
                .rfind("tls.key_file: no unencrypted PEM private key in " + (dir_ / "junk.pem").string(), 0),
            0u);
  EXPECT_EQ(server_error(pki("broker-key.pem"), pki("broker-key.pem"))
                .rfind("tls.cert_file: no PEM certificate chain in " + pki("broker-key.pem").string(), 0),
            0u);
  const std::string mismatch = server_error(pki("broker.pem"), pki("ca-key.pem"));
  EXPECT_EQ(mismatch.rfind(
                "tls.key_file: " + pki("ca-key.pem").string() + " is not the key of " + pki("broker.pem").string(), 0),
            0u)
      << mismatch;
}

TEST_F(TlsContextTest, WithoutResumptionTheServerIssuesNoSessionTicket) {
  for (const bool resumption : {true, false}) {
    ServerTlsOptions o{pki("broker.pem"), pki("broker-key.pem"), true, nullptr, nullptr};
    o.resumption = resumption;
    auto server = make_server_context(o);
    ClientTlsOptions c;
    c.ca_file = pki("ca.pem");
    auto client = make_client_context(c);
    ASSERT_TRUE(server.ok() && client.ok());
    const auto tls = testing::handshake_in_memory((*server)->native_handle(), (*client)->native_handle());
    ASSERT_TRUE(tls) << "resumption " << resumption;
    const SslSessionPtr session(SSL_get1_session(tls.client.get()));
    EXPECT_EQ(session && SSL_SESSION_is_resumable(session.get()) == 1, resumption) << "resumption " << resumption;
  }
}

TEST_F(TlsContextTest, TheClientSideNamesItsSettingToo) {
  ClientTlsOptions o;
  o.ca_file = pki("ca.pem");
  o.cert_file = pki("broker.pem");
  o.key_file = pki("nope.pem");
  o.setting = "gateways.egress";
  auto ctx = make_client_context(o);
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.error().message,
            "gateways.egress.key_file: cannot read " + pki("nope.pem").string() + ": No such file or directory");
}

}  // namespace
}  // namespace meshfed::http
