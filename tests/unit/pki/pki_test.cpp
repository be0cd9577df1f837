#include "meshfed/pki/pki.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/test_support.hpp"

namespace meshfed::pki {
namespace {

using fs_path = std::filesystem::path;
using testing::must;

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

TEST_F(PkiTest, AFailedInitLeavesNothingBehindAndTheRetryWorks) {
  InitOptions o;
  o.domain = "pci";
  o.leaf.ip_addresses = {"999.1.1.1"};
  std::filesystem::create_directories(dir_ / "fresh");
  auto bad = init_domain(dir_ / "fresh/pki", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("--ip: expected an IP address, got \"999.1.1.1\""), std::string::npos)
      << bad.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "fresh/pki/ca.pem"));
  // No scratch folder is left next to it either.
  for (const auto& f : std::filesystem::directory_iterator(dir_ / "fresh"))
    ADD_FAILURE() << "left behind: " << f.path();
  o.leaf.ip_addresses = {"127.0.0.1"};
  // A failure after the files were made (the folder's place is taken by a file): the scratch
  // folder they were made in goes too.
  testing::write_file(dir_ / "fresh/pki", "not a folder");
  ASSERT_FALSE(init_domain(dir_ / "fresh/pki", o).ok());
  for (const auto& f : std::filesystem::directory_iterator(dir_ / "fresh")) {
    if (f.path().filename() != "pki") ADD_FAILURE() << "left behind: " << f.path();
  }
  std::filesystem::remove(dir_ / "fresh/pki");
  ASSERT_TRUE(init_domain(dir_ / "fresh/pki/", o).ok());  // a trailing slash is the same folder
  EXPECT_TRUE(verify_chain(dir_ / "fresh/pki/broker.pem", dir_ / "fresh/pki/ca.pem").ok());
}

TEST_F(PkiTest, CertificatesValidForLessThanADayAreRefused) {
  InitOptions o;
  o.domain = "dmz";
  for (const int days : {0, -3}) {
    o.leaf.validity = std::chrono::days(days);
    auto init = init_domain(dir_ / "short", o);
    ASSERT_FALSE(init.ok());
    EXPECT_NE(init.error().message.find("--days"), std::string::npos);
    const std::string before = testing::read_file(dir_ / "pci/ingress.pem");
    auto issue = issue_leaf(dir_ / "pci", LeafRole::kIngress, {{}, {}, std::chrono::days(days)});
    ASSERT_FALSE(issue.ok());
    EXPECT_EQ(testing::read_file(dir_ / "pci/ingress.pem"), before);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "short/ca.pem"));
  EXPECT_EQ(testing::run_meshfed({"pki", "init", "--domain", "x", "--out", (dir_ / "cli0").string(), "--days", "0"})
                .exit_code,
            2);
}

// As root (the CI machine, an operator installing): --owner hands the leaf keys to the service
// account and keeps the CA key its own.
TEST_F(PkiTest, OwnerHandsTheLeafKeysToTheServiceAndNotTheCaKey) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown to another user needs root";
  const auto out = dir_ / "owned";
  auto r = testing::run_meshfed(
      {"pki", "init", "--domain", "pci", "--out", out.string(), "--ip", "127.0.0.1", "--owner", "nobody:nogroup"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("keep it offline"), std::string::npos) << r.output;
  const auto stat_of = [](const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st;
  };
  for (const std::string leaf : {"broker", "ingress", "egress"}) {
    const auto key = stat_of(out / (leaf + "-key.pem"));
    EXPECT_NE(key.st_uid, 0u) << leaf;
    EXPECT_NE(key.st_gid, 0u) << leaf;
    EXPECT_EQ(key.st_mode & 0777, 0640u) << leaf;
  }
  const auto ca_key = stat_of(out / "ca-key.pem");
  EXPECT_EQ(ca_key.st_uid, 0u);
  EXPECT_EQ(ca_key.st_mode & 0777, 0600u);
  // An owner that does not exist is refused before anything is written.
  auto unknown = testing::run_meshfed(
      {"pki", "init", "--domain", "pci", "--out", (dir_ / "nobody").string(), "--owner", "nosuch"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("no user \"nosuch\""), std::string::npos) << unknown.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "nobody"));
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

TEST_F(PkiTest, ARolloverTrustsBothCasUntilEveryLeafIsTheNextOnesThenRetiresTheOld) {
  const fs_path pci = dir_ / "pci";
  const std::string old_ca = must(certificates_pem(pci / "ca.pem"))[0];
  const auto next = must(rollover_ca(pci));
  const auto held = must(certificates_pem(pci / "ca.pem"));
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[1], old_ca) << "the old CA stays trusted";
  EXPECT_NE(must(read_certificate(pci / "ca.pem")).subject.find(next.next_ca_subject), std::string::npos)
      << "the next CA comes first: it signs what is issued from now on";
  EXPECT_EQ(must(read_certificate(pci / "ca.pem")).uri_sans, std::vector<std::string>{"spiffe://pci.example"});
  EXPECT_TRUE(std::filesystem::exists(pci / "ca-previous-key.pem"));
  EXPECT_TRUE(verify_chain(pci / "broker.pem", pci / "ca.pem").ok()) << "the old leaves still verify";
  EXPECT_EQ(rollover_ca(pci).error().code, ErrorCode::kFailedPrecondition) << "one rollover at a time";

  const std::vector<fs_path> leaves = {pci / "broker.pem", pci / "ingress.pem", pci / "egress.pem"};
  const auto early = retire_ca(pci, leaves);
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.error().message.find("broker.pem is still the old CA's"), std::string::npos) << early.error().message;
  EXPECT_EQ(must(certificates_pem(pci / "ca.pem")).size(), 2u) << "a refused retire changes nothing";

  for (const auto role : {LeafRole::kBroker, LeafRole::kIngress, LeafRole::kEgress}) {
    ASSERT_TRUE(issue_leaf(pci, role, {{"broker.pci.example"}, {}, std::chrono::days(30)}).ok());
  }
  ASSERT_TRUE(retire_ca(pci, leaves).ok());
  const auto after = must(certificates_pem(pci / "ca.pem"));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0], held[0]);
  for (const auto& leaf : leaves) EXPECT_TRUE(verify_chain(leaf, pci / "ca.pem").ok()) << leaf;
  EXPECT_EQ(retire_ca(pci, leaves).error().code, ErrorCode::kFailedPrecondition) << "nothing left to retire";
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
