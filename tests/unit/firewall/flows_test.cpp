#include "meshfed/firewall/flows.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "meshfed/core/text.hpp"
#include "support/test_support.hpp"

namespace meshfed::firewall {
namespace {

config::Config pci_config() {
  auto c = config::parse_config(R"({
    "domain": "pci", "state_dir": "/var/lib/meshfed/pci", "source_cidrs": ["10.30.0.0/24", "fd00:30::/64"],
    "tls": {"ca_file": "ca.pem", "cert_file": "b.pem", "key_file": "k.pem"},
    "admin": {"listen": "127.0.0.1:9440", "tokens_file": "t.json"},
    "peer_api": {"listen": "0.0.0.0:9443", "advertise": "broker.pci.example:9443"},
    "peers": [
      {"domain": "internal", "url": "https://broker.internal.example:9443", "ca_file": "i.pem", "source_cidrs": ["10.20.0.0/24"]},
      {"domain": "dmz", "url": "https://10.10.0.5:9443", "ca_file": "d.pem", "source_cidrs": ["10.10.0.0/24"]}],
    "gateways": {"ingress": {"listen": "0.0.0.0:15443", "advertise": "ingress.pci.example:15443",
                             "cert_file": "i.pem", "key_file": "ik.pem"}}
  })",
                                "/etc/meshfed");
  EXPECT_TRUE(c.ok()) << config::format_errors(c.error());
  return *c;
}

// Names resolve to fixed test addresses; nothing leaves the machine.
Result<std::vector<std::string>> fake_resolve(const std::string& host) {
  static const std::map<std::string, std::vector<std::string>> kNames = {
      {"broker.internal.example", {"10.20.0.10"}},
      {"broker.pci.example", {"10.30.0.10"}},
      {"ingress.pci.example", {"10.30.0.11"}},
      {"ingress.internal.example", {"10.20.0.11", "fd00:20::11"}}};
  if (auto it = kNames.find(host); it != kNames.end()) return it->second;
  if (host.find_first_not_of("0123456789.") == std::string::npos) return std::vector<std::string>{host};
  return make_error(ErrorCode::kUnavailable, "cannot resolve " + host);
}

FlowState state() {
  FlowState s;
  s.peers_with_approved_exports = {"internal"};
  s.import_ingresses = {{"internal", {"ingress.internal.example", 15443}}};
  return s;
}

void expect_nft_accepts(const std::string& rules) {
  if (std::system("command -v nft >/dev/null 2>&1") != 0) GTEST_SKIP() << "nft (Debian nftables) is not installed";
  testing::TempDir dir;
  testing::write_file(dir / "rules.nft", rules);
  const std::string cmd = "nft -c -f " + (dir / "rules.nft").string() + " > " + (dir / "out.txt").string() + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << testing::read_file(dir / "out.txt") << "\n" << rules;
}

TEST(FirewallFlows, ExactlyTheCrossBoundaryFlows) {
  const auto fs = compute_flows(pci_config(), state(), Mode::kHost, fake_resolve);
  EXPECT_TRUE(fs.errors.empty());
  std::set<std::string> seen;
  for (const auto& f : fs.flows)
    seen.insert(std::string(to_string(f.direction)) + " " + std::string(to_string(f.kind)) + " " + f.peer + " " +
                std::to_string(f.port));
  EXPECT_EQ(seen,
            (std::set<std::string>{"inbound peer_api internal 9443", "inbound peer_api dmz 9443",
                                   "inbound gateway internal 15443",  // dmz has no approved export: no ingress rule
                                   "outbound peer_api internal 9443", "outbound peer_api dmz 9443",
                                   "outbound gateway internal 15443"}));
}

// Two peers behind the same addresses need one accept, not two of the same match.
TEST(FirewallFlows, PeersSharingAddressesGetOneAcceptPerMatch) {
  auto c = pci_config();
  for (auto& p : c.peers) p.source_cidrs = {"10.99.0.0/24"};
  for (const auto mode : {Mode::kHost, Mode::kRouter}) {
    const auto rules = to_nftables(compute_flows(c, state(), mode, fake_resolve), mode);
    ASSERT_TRUE(rules.ok()) << rules.error().message;
    std::map<std::string, int> seen;
    for (const auto& line : split(*rules, '\n')) {
      if (line.find("tcp dport") != std::string::npos) ++seen[line.substr(0, line.find(" comment "))];
    }
    for (const auto& [match, n] : seen) EXPECT_EQ(n, 1) << match << "\n" << *rules;
    const std::string inbound_api = "ip saddr { 10.99.0.0/24 } tcp dport 9443 accept";
    EXPECT_EQ(seen.count("    " + inbound_api), mode == Mode::kHost ? 1u : 0u) << *rules;
  }
}

TEST(FirewallFlows, HostModeTableIsAcceptedByNft) {
  const auto fs = compute_flows(pci_config(), state(), Mode::kHost, fake_resolve);
  auto text = to_nftables(fs, Mode::kHost);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_NE(text->find("table inet meshfed_pci {"), std::string::npos);
  EXPECT_NE(text->find("ip saddr { 10.20.0.0/24 } tcp dport 9443 accept"), std::string::npos) << *text;
  EXPECT_NE(text->find("ip daddr { 10.20.0.10 } tcp dport 9443 accept"), std::string::npos) << *text;
  EXPECT_NE(text->find("ip daddr { 10.20.0.0/24 } tcp dport 15443 accept"), std::string::npos) << *text;
  EXPECT_NE(text->find("broker.internal.example resolved"), std::string::npos) << *text;
  EXPECT_NE(text->find("tcp dport 9443 drop"), std::string::npos);  // nobody else reaches the peer API
  expect_nft_accepts(*text);
}

TEST(FirewallFlows, RouterModeForwardsOnlyTheFlowsAndIsAcceptedByNft) {
  const auto fs = compute_flows(pci_config(), state(), Mode::kRouter, fake_resolve);
  ASSERT_TRUE(fs.errors.empty()) << fs.errors.front();
  auto text = to_nftables(fs, Mode::kRouter);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_NE(text->find("type filter hook forward priority 0; policy drop;"), std::string::npos);
  EXPECT_NE(text->find("ip saddr { 10.20.0.0/24 } ip daddr { 10.30.0.10 } tcp dport 9443 accept"), std::string::npos)
      << *text;
  EXPECT_NE(text->find("ip saddr { 10.30.0.0/24 } ip daddr { 10.20.0.0/24 } tcp dport 15443 accept"), std::string::npos)
      << *text;
  expect_nft_accepts(*text);
}

TEST(FirewallFlows, PeerWithoutSourceCidrsIsAnErrorNotAnOpenRule) {
  auto cfg = pci_config();
  cfg.peers[0].source_cidrs.clear();
  const auto fs = compute_flows(cfg, state(), Mode::kHost, fake_resolve);
  ASSERT_FALSE(fs.errors.empty());
  EXPECT_NE(fs.errors.front().find("peers[internal].source_cidrs"), std::string::npos);
  for (const auto& f : fs.flows) EXPECT_FALSE(f.direction == Direction::kInbound && f.peer == "internal");
  auto text = to_nftables(fs, Mode::kHost);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("source_cidrs"), std::string::npos);
  EXPECT_FALSE(to_json(fs, Mode::kHost)["errors"].empty());
}

TEST(FirewallFlows, AnIngressAPeerNamesIsNeverResolvedNorOpened) {
  FlowState s = state();
  s.import_ingresses = {{"internal", {"nowhere.invalid", 15443}}, {"internal", {"10.99.99.99", 15443}}};
  const auto fs = compute_flows(pci_config(), s, Mode::kRouter, fake_resolve);
  EXPECT_TRUE(fs.errors.empty()) << fs.errors.front();
  auto text = to_nftables(fs, Mode::kRouter);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(text->find("10.99.99.99"), std::string::npos) << *text;
  EXPECT_EQ(text->find("nowhere.invalid"), std::string::npos) << *text;
  EXPECT_NE(text->find("ip daddr { 10.20.0.0/24 } tcp dport 15443 accept"), std::string::npos) << *text;
}

TEST(FirewallFlows, WithoutIngressRangesTheIngressIsWhereThePeersUrlPoints) {
  auto cfg = pci_config();
  cfg.peers[0].ingress_cidrs.clear();
  const auto fs = compute_flows(cfg, state(), Mode::kHost, fake_resolve);
  auto text = to_nftables(fs, Mode::kHost);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_NE(text->find("ip daddr { 10.20.0.10 } tcp dport 15443 accept"), std::string::npos) << *text;
}

}  // namespace
}  // namespace meshfed::firewall
