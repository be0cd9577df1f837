#include "meshfed/peering/bundle.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <regex>

#include "meshfed/core/text.hpp"
#include "meshfed/pki/pki.hpp"
#include "support/test_support.hpp"

namespace meshfed::peering {
namespace {

using testing::must;

class BundleTest : public ::testing::Test {
 protected:
  BundleTest() : domain_(testing::make_domain(dir_.path() / "pci", "pci", {"internal"})) {
    domain_.config["trust_domain"] = "pci.example";
    domain_.config["source_cidrs"] = {"10.30.0.0/24"};
    domain_.config["peer_api"] = {{"listen", "0.0.0.0:9443"}, {"advertise", "broker.pci.example:9443"}};
    domain_.config["gateways"] = {{"ingress",
                                   {{"listen", "127.0.0.1:15443"},
                                    {"advertise", "192.0.2.7:15443"},
                                    {"cert_file", "pki/ingress.pem"},
                                    {"key_file", "pki/ingress-key.pem"}}}};
  }
  config::Config config() {
    domain_.save_config();
    return must(config::load_config(domain_.config_file));
  }

  testing::TempDir dir_;
  testing::DomainFixture domain_;
};

TEST_F(BundleTest, ADomainsBundleSaysWhoItIsWhereItAnswersAndWhichCaItsCertificatesChainTo) {
  const Bundle b = must(bundle_of(config()));
  EXPECT_EQ(b.domain, "pci");
  EXPECT_EQ(b.trust_domain, "pci.example");
  EXPECT_EQ(b.peer_api, "https://broker.pci.example:9443");
  EXPECT_EQ(b.ca_pem, must(pki::certificates_pem(domain_.dir / "pki/ca.pem")));
  ASSERT_EQ(b.ca_pem.size(), 1u);
  EXPECT_EQ(b.ca_pem[0].rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  EXPECT_EQ(b.ingress_cidrs, std::vector<std::string>{"192.0.2.7/32"});
  EXPECT_EQ(b.source_cidrs, std::vector<std::string>{"10.30.0.0/24"});
  const std::string text = to_json(b).dump();
  EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos) << "a bundle holds no secret";
}

TEST_F(BundleTest, ItsCanonicalJsonSortsTheKeysAndHasNoWhitespace) {
  Bundle b;
  b.domain = "pci";
  b.trust_domain = "pci";
  b.peer_api = "https://10.0.0.1:9443";
  b.ca_pem = {"-----BEGIN CERTIFICATE-----\nAB\n-----END CERTIFICATE-----\n"};
  b.source_cidrs = {"10.30.0.0/24"};
  EXPECT_EQ(canonical_text(b),
            R"({"bundle_version":1,"ca_pem":["-----BEGIN CERTIFICATE-----\nAB\n-----END CERTIFICATE-----\n"],)"
            R"("domain":"pci","ingress_cidrs":[],"peer_api":"https://10.0.0.1:9443","source_cidrs":["10.30.0.0/24"],)"
            R"("trust_domain":"pci"})");
}

TEST_F(BundleTest, TheFingerprintIsTheCanonicalJsonsSha256InSixteenGroupsAndAnyChangeMovesIt) {
  const Bundle b = must(bundle_of(config()));
  const std::string fp = fingerprint(b);
  EXPECT_TRUE(std::regex_match(fp, std::regex("([0-9a-f]{4} ){15}[0-9a-f]{4}"))) << fp;
  std::string digits = fp;
  std::erase(digits, ' ');
  EXPECT_EQ(digits, sha256_hex(canonical_text(b)));

  Bundle tampered = b;
  tampered.ingress_cidrs.push_back("203.0.113.0/24");
  EXPECT_NE(fingerprint(tampered), fp);
  tampered = b;
  tampered.ca_pem[0].back() = ' ';
  EXPECT_NE(fingerprint(tampered), fp);
}

TEST_F(BundleTest, AFingerprintReadBackMatchesWhateverItsCaseAndSeparators) {
  const Bundle b = must(bundle_of(config()));
  const std::string fp = fingerprint(b);
  std::string upper = fp, colons = fp, dashes = fp, bare = fp;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::replace(colons.begin(), colons.end(), ' ', ':');
  std::replace(dashes.begin(), dashes.end(), ' ', '-');
  std::erase(bare, ' ');
  for (const auto& given : {fp, upper, colons, dashes, bare}) EXPECT_TRUE(fingerprint_matches(b, given)) << given;

  std::string wrong = fp;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(fingerprint_matches(b, wrong));
  EXPECT_FALSE(fingerprint_matches(b, fp.substr(0, fp.size() - 5))) << "a fingerprint cut short";
  EXPECT_FALSE(fingerprint_matches(b, fp + " 0000"));
  EXPECT_FALSE(fingerprint_matches(b, fp.substr(0, fp.size() - 1) + "g")) << "not a hex digit";
  EXPECT_FALSE(fingerprint_matches(b, ""));
}

TEST_F(BundleTest, EveryCertificateOfACaBundleIsCarriedSoThatARolloverKeepsBoth) {
  pki::InitOptions next;
  next.domain = "pci";
  ASSERT_TRUE(pki::init_domain(dir_.path() / "next", next).ok());
  testing::write_file(domain_.dir / "pki/ca.pem", testing::read_file(domain_.dir / "pki/ca.pem") + "# the next CA\n" +
                                                      testing::read_file(dir_.path() / "next/ca.pem"));
  const Bundle b = must(bundle_of(config()));
  ASSERT_EQ(b.ca_pem.size(), 2u);
  EXPECT_NE(b.ca_pem[0], b.ca_pem[1]);
  EXPECT_EQ(b.ca_pem[1], must(pki::certificates_pem(dir_.path() / "next/ca.pem")).front());
}

TEST_F(BundleTest, WithoutAnAddressPeersCanReachOrAReadableCaThereIsNoBundleAndTheErrorSaysWhy) {
  domain_.config["peer_api"] = {{"listen", "0.0.0.0:9443"}};
  auto no_address = bundle_of(config());
  ASSERT_FALSE(no_address.ok());
  EXPECT_EQ(no_address.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(no_address.error().message.find("peer_api.advertise"), std::string::npos) << no_address.error().message;

  domain_.config["peer_api"] = {{"listen", "10.30.0.5:9443"}};
  EXPECT_EQ(must(bundle_of(config())).peer_api, "https://10.30.0.5:9443") << "a listen address naming one host serves";
  domain_.config["peer_api"] = {{"listen", "[fd00::5]:9443"}};
  EXPECT_EQ(must(bundle_of(config())).peer_api, "https://[fd00::5]:9443");

  const auto cfg = config();
  testing::write_file(domain_.dir / "pki/ca.pem", "not a certificate\n");
  auto no_ca = bundle_of(cfg);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.error().message.find("tls.ca_file"), std::string::npos) << no_ca.error().message;
}

TEST_F(BundleTest, AnIngressAdvertisedByNameIsLeftForThePeerToResolve) {
  domain_.config["gateways"]["ingress"]["advertise"] = "ingress.pci.example:15443";
  EXPECT_TRUE(must(bundle_of(config())).ingress_cidrs.empty());
  domain_.config.erase("gateways");
  EXPECT_TRUE(must(bundle_of(config())).ingress_cidrs.empty()) << "a domain without an ingress";
}

// A bundle from another domain is read field by field; what it carried is kept as it was, so
// that its fingerprint is the one its domain showed.
TEST_F(BundleTest, AnotherDomainsBundleReadsBackAsItWasMade) {
  const Bundle made = must(bundle_of(config()));
  const Bundle read = must(parse_bundle(nlohmann::json::parse(to_json(made).dump())));
  EXPECT_EQ(to_json(read), to_json(made));
  EXPECT_EQ(fingerprint(read), fingerprint(made));
}

TEST_F(BundleTest, ABundleThatIsMalformedOrTooLargeIsRefusedNamingEachFieldAndNeverEchoingIt) {
  const nlohmann::json good = to_json(must(bundle_of(config())));
  const std::string leaf_pem = testing::read_file(domain_.dir / "pki/broker.pem");
  struct Case {
    std::function<void(nlohmann::json&)> change;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](nlohmann::json& j) { j.erase("bundle_version"); }, "bundle.bundle_version"},
      {[](nlohmann::json& j) { j["bundle_version"] = 2; }, "bundle.bundle_version"},
      {[](nlohmann::json& j) { j["domain"] = "PCI Domain"; }, "bundle.domain"},
      {[](nlohmann::json& j) { j.erase("trust_domain"); }, "bundle.trust_domain"},
      {[](nlohmann::json& j) { j["trust_domain"] = ""; }, "bundle.trust_domain"},
      {[](nlohmann::json& j) { j["trust_domain"] = "pci/meshfed/broker"; }, "bundle.trust_domain"},
      {[](nlohmann::json& j) { j["peer_api"] = "http://broker.pci.example:9443"; }, "bundle.peer_api"},
      {[](nlohmann::json& j) { j["peer_api"] = "https://broker.pci.example"; }, "bundle.peer_api"},
      {[](nlohmann::json& j) { j["peer_api"] = "https://broker.pci.example:9443/evil"; }, "bundle.peer_api"},
      {[](nlohmann::json& j) { j["ca_pem"] = nlohmann::json::array(); }, "bundle.ca_pem"},
      {[](nlohmann::json& j) { j.erase("ca_pem"); }, "bundle.ca_pem"},
      {[](nlohmann::json& j) { j["ca_pem"] = std::vector<std::string>(5, j["ca_pem"][0]); }, "bundle.ca_pem"},
      {[](nlohmann::json& j) { j["ca_pem"][0] = "<script>"; }, "bundle.ca_pem[0]"},
      {[&](nlohmann::json& j) { j["ca_pem"][0] = leaf_pem; }, "bundle.ca_pem[0]"},  // a leaf, not a CA
      {[](nlohmann::json& j) {
         j["ca_pem"][0] = j["ca_pem"][0].get<std::string>() + j["ca_pem"][0].get<std::string>();
       },
       "bundle.ca_pem[0]"},
      {[](nlohmann::json& j) { j["ca_pem"][0] = std::string(kMaxCaPemBytes + 1, 'A'); }, "bundle.ca_pem[0]"},
      {[](nlohmann::json& j) { j["ingress_cidrs"] = {"10.0.0.0/33"}; }, "bundle.ingress_cidrs[0]"},
      {[](nlohmann::json& j) { j["source_cidrs"] = std::vector<std::string>(kMaxCidrs + 1, "10.0.0.0/8"); },
       "bundle.source_cidrs"},
      {[](nlohmann::json& j) { j["extra"] = true; }, "bundle.extra"},
  };
  for (const auto& c : cases) {
    nlohmann::json j = good;
    c.change(j);
    const auto parsed = parse_bundle(j);
    ASSERT_FALSE(parsed.ok()) << c.field;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    bool named = false;
    for (const auto& f : parsed.error().fields) {
      named = named || f.field == c.field;
      EXPECT_EQ(f.message.find("<script>"), std::string::npos) << "a value is never echoed: " << f.message;
    }
    EXPECT_TRUE(named) << c.field << " not named in " << nlohmann::json(parsed.error().fields.size());
  }
  EXPECT_FALSE(parse_bundle(nlohmann::json::array()).ok());
}

}  // namespace
}  // namespace meshfed::peering
