#include "meshfed/pki/pki.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/test_support.hpp"

namespace meshfed::pki {
namespace {

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitOptions o;
    o.domain = "pci";
    o.trust_domain = "pci.example";
    o.leaf.dns_names = {"broker.pci.example"};
    o.leaf.ip_addresses = {"127.0.0.1"};
    ASSERT_TRUE(init_domain(dir_ / "pci", o).ok());
    InitOptions other;
    other.domain = "dmz";
    ASSERT_TRUE(init_domain(dir_ / "dmz", other).ok());
  }
  testing::TempDir dir_;
};

TEST_F(PkiTest, LeavesCarryExactlyOneSpiffeIdAndTheGivenNames) {
  for (const std::string role : {"broker", "ingress", "egress"}) {
    auto info = read_certificate(dir_ / "pci" / (role + ".pem"));
    ASSERT_TRUE(info.ok());
    ASSERT_EQ(info->uri_sans.size(), 1u) << role;
    EXPECT_EQ(info->uri_sans[0], "spiffe://pci.example/meshfed/" + role);
    EXPECT_EQ(info->dns_sans, std::vector<std::string>{"broker.pci.example"});
    EXPECT_EQ(info->ip_sans, std::vector<std::string>{"127.0.0.1"});
    EXPECT_FALSE(info->is_ca);
  }
}

TEST_F(PkiTest, ExtendedKeyUsagesFollowTheRole) {
  EXPECT_EQ(read_certificate(dir_ / "pci/broker.pem")->extended_key_usage,
            (std::vector<std::string>{"serverAuth", "clientAuth"}));
  EXPECT_EQ(read_certificate(dir_ / "pci/ingress.pem")->extended_key_usage, std::vector<std::string>{"serverAuth"});
  EXPECT_EQ(read_certificate(dir_ / "pci/egress.pem")->extended_key_usage, std::vector<std::string>{"clientAuth"});
  auto ca = read_certificate(dir_ / "pci/ca.pem");
  EXPECT_TRUE(ca->is_ca);
  EXPECT_EQ(ca->key_usage, (std::vector<std::string>{"keyCertSign", "cRLSign"}));
}

TEST_F(PkiTest, KeysAreWrittenOwnerOnly) {
  for (const std::string f : {"ca-key.pem", "broker-key.pem", "ingress-key.pem", "egress-key.pem"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "pci" / f).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600) << f;
  }
}

TEST_F(PkiTest, LeafVerifiesAgainstItsCaAndNotAnotherDomains) {
  EXPECT_TRUE(verify_chain(dir_ / "pci/broker.pem", dir_ / "pci/ca.pem").ok());
  auto cross = verify_chain(dir_ / "pci/broker.pem", dir_ / "dmz/ca.pem");
  ASSERT_FALSE(cross.ok());
  EXPECT_EQ(cross.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(PkiTest, RefusesToReplaceAnExistingCaUnlessForced) {
  const std::string before = testing::read_file(dir_ / "pci/ca.pem");
  InitOptions o;
  o.domain = "pci";
  auto again = init_domain(dir_ / "pci", o);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("--force"), std::string::npos);
  EXPECT_EQ(testing::read_file(dir_ / "pci/ca.pem"), before);
  o.force = true;
  EXPECT_TRUE(init_domain(dir_ / "pci", o).ok());
  EXPECT_NE(testing::read_file(dir_ / "pci/ca.pem"), before);
}

TEST_F(PkiTest, IssueRotatesOneLeafUnderTheSameCa) {
  const std::string before = testing::read_file(dir_ / "pci/ingress.pem");
  ASSERT_TRUE(issue_leaf(dir_ / "pci", LeafRole::kIngress, {{"ingress.pci.example"}, {}, std::chrono::days(30)}).ok());
  EXPECT_NE(testing::read_file(dir_ / "pci/ingress.pem"), before);
  auto info = read_certificate(dir_ / "pci/ingress.pem");
  EXPECT_EQ(info->uri_sans, std::vector<std::string>{"spiffe://pci.example/meshfed/ingress"});
  EXPECT_EQ(info->dns_sans, std::vector<std::string>{"ingress.pci.example"});
  EXPECT_TRUE(verify_chain(dir_ / "pci/ingress.pem", dir_ / "pci/ca.pem").ok());
}

TEST_F(PkiTest, CliInitShowAndBadDomain) {
  auto init = testing::run_meshfed(
      {"pki", "init", "--domain", "internal", "--out", (dir_ / "cli").string(), "--dns", "broker.internal"});
  ASSERT_EQ(init.exit_code, 0) << init.output;
  auto show = testing::run_meshfed({"pki", "show", (dir_ / "cli/broker.pem").string()});
  ASSERT_EQ(show.exit_code, 0);
  EXPECT_NE(show.output.find("spiffe://internal/meshfed/broker"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("not after"), std::string::npos);
  auto bad = testing::run_meshfed({"pki", "init", "--domain", "Bad_Name", "--out", (dir_ / "bad").string()});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--domain"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace meshfed::pki
