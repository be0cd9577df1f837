// The firewall rules meshfed prints are enough, and no more: two domains in network namespaces
// of their own, joined only through a third (`fw`) that forwards between them under exactly
// the rules of `meshfed firewall --mode router`. Catalog sync and traffic through the gateways
// work; a direct connection to the service behind the ingress is dropped.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// Three namespaces and two veth pairs, removed again at the end; addresses are the test's own.
class Topology {
 public:
  explicit Topology(const std::string& tag) : internal_("mfi" + tag), fw_("mff" + tag), pci_("mfp" + tag) {}
  ~Topology() {
    for (const auto& ns : {internal_, fw_, pci_}) sh("ip netns del " + ns);
  }

  std::string create() {  // empty, or why it could not
    for (const auto& ns : {internal_, fw_, pci_}) {
      if (sh("ip netns add " + ns) != 0) return "cannot create network namespace " + ns + " (needs root and iproute2)";
      sh("ip -n " + ns + " link set lo up");
    }
    const std::vector<std::string> steps = {"ip link add vi-" + tag() + " type veth peer name vfi-" + tag(),
                                            "ip link set vi-" + tag() + " netns " + internal_,
                                            "ip link set vfi-" + tag() + " netns " + fw_,
                                            "ip link add vp-" + tag() + " type veth peer name vfp-" + tag(),
                                            "ip link set vp-" + tag() + " netns " + pci_,
                                            "ip link set vfp-" + tag() + " netns " + fw_,
                                            "ip -n " + internal_ + " addr add 10.201.1.2/24 dev vi-" + tag(),
                                            "ip -n " + internal_ + " link set vi-" + tag() + " up",
                                            "ip -n " + fw_ + " addr add 10.201.1.1/24 dev vfi-" + tag(),
                                            "ip -n " + fw_ + " link set vfi-" + tag() + " up",
                                            "ip -n " + pci_ + " addr add 10.201.2.2/24 dev vp-" + tag(),
                                            "ip -n " + pci_ + " link set vp-" + tag() + " up",
                                            "ip -n " + fw_ + " addr add 10.201.2.1/24 dev vfp-" + tag(),
                                            "ip -n " + fw_ + " link set vfp-" + tag() + " up",
                                            "ip -n " + internal_ + " route add default via 10.201.1.1",
                                            "ip -n " + pci_ + " route add default via 10.201.2.1",
                                            "ip netns exec " + fw_ + " sysctl -w net.ipv4.ip_forward=1"};
    for (const auto& s : steps) {
      if (sh(s) != 0) return "network setup failed: " + s;
    }
    return "";
  }

  // Replaces the firewall's rules with these nftables files; none means "forward nothing".
  // (Every base chain on a hook must accept a packet: meshfed's tables, each with policy drop,
  // are the whole policy.)
  bool load_rules(const std::vector<fs::path>& files) {
    sh("ip netns exec " + fw_ + " nft flush ruleset");
    if (files.empty()) {
      return sh("ip netns exec " + fw_ +
                " nft 'add table inet closed; add chain inet closed forward "
                "{ type filter hook forward priority 0; policy drop; }'") == 0;
    }
    for (const auto& f : files) {
      if (sh("ip netns exec " + fw_ + " nft -f " + f.string()) != 0) return false;
    }
    return true;
  }

  const std::string internal_, fw_, pci_;

 private:
  std::string tag() const { return internal_.substr(3); }
};

json domain_config(DomainFixture& fx, const std::string& own_cidr, const std::string& own_ip, const std::string& peer,
                   const std::string& peer_ip, const std::string& peer_cidr) {
  json c = fx.config;
  c["source_cidrs"] = {own_cidr};
  c["peer_api"] = {{"listen", own_ip + ":9443"}, {"advertise", own_ip + ":9443"}};
  c["peers"] = {{{"domain", peer},
                 {"url", "https://" + peer_ip + ":9443"},
                 {"ca_file", "../" + peer + "/pki/ca.pem"},
                 {"import_policy", "auto"},
                 {"source_cidrs", {peer_cidr}}}};
  c["sync"] = {{"wait_s", 5}, {"stale_after_s", 30}, {"withdraw_after_s", 600}};
  c["gateways"] = {{"ingress",
                    {{"listen", own_ip + ":15443"},
                     {"advertise", own_ip + ":15443"},
                     {"cert_file", "pki/ingress.pem"},
                     {"key_file", "pki/ingress-key.pem"}}},
                   {"egress",
                    {{"bind", "127.0.0.1"},
                     {"advertise_host", "127.0.0.1"},
                     {"ports", "16000-16009"},
                     {"cert_file", "pki/egress.pem"},
                     {"key_file", "pki/egress-key.pem"}}}};
  return c;
}

TEST(FirewallNetns, OnlyThePrintedFlowsAreNeededAndNothingElsePasses) {
  Topology topo(std::to_string(::getpid() % 100000));
  if (const std::string why = topo.create(); !why.empty()) GTEST_SKIP() << why;

  TempDir dir;
  auto internal = make_domain(dir / "internal", "internal", {});
  auto pci = make_domain(dir / "pci", "pci", {});
  internal.config = domain_config(internal, "10.201.1.0/24", "10.201.1.2", "pci", "10.201.2.2", "10.201.2.0/24");
  pci.config = domain_config(pci, "10.201.2.0/24", "10.201.2.2", "internal", "10.201.1.2", "10.201.1.0/24");
  internal.save_config();
  pci.save_config();

  std::unique_ptr<EchoServer> service;
  run_in_netns(topo.pci_, [&] { service = std::make_unique<EchoServer>(EchoServer::Mode::kEcho, true); });
  write_file(pci.dir / "inventory.json", json{{"services",
                                               {{{"mesh", "default"},
                                                 {"name", "payments-api"},
                                                 {"address", "10.201.2.2"},
                                                 {"ports", {{{"port", service->port()}, {"protocol", "tcp"}}}}}}}}
                                             .dump());

  // The rules as they stand before anything is exported: brokers may talk, nothing else.
  auto rules = [&](DomainFixture& fx) {
    // Quiet: run_meshfed mixes stderr (where the log goes) into the rules it returns.
    const auto r = run_meshfed({"--log-level", "warn", "firewall", "--config", fx.config_file.string(), "--format",
                                "nftables", "--mode", "router"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    write_file(fx.dir / "rules.nft", r.output);
    return fx.dir / "rules.nft";
  };
  // In place before the brokers start, as a firewall is: a connection opened before the rules
  // has no conntrack entry, and its first reply afterwards looks like a new inbound flow.
  fs::create_directories(internal.state_dir);
  fs::create_directories(pci.state_dir);
  ASSERT_TRUE(topo.load_rules({rules(internal), rules(pci)}))
      << read_file(internal.dir / "rules.nft") << read_file(pci.dir / "rules.nft");
  BrokerProcess internal_broker(internal.config_file, internal.state_dir);
  BrokerProcess pci_broker(pci.config_file, pci.state_dir);
  internal_broker.set_netns(topo.internal_);
  pci_broker.set_netns(topo.pci_);
  run_in_netns(topo.internal_, [&] { internal_broker.start(); });
  run_in_netns(topo.pci_, [&] { pci_broker.start(); });

  std::string export_id;
  run_in_netns(topo.pci_, [&] {
    auto c = pci_broker.client(pci.dir / "pki/ca.pem");
    auto r = api_call(*c, "POST", "/api/v1/exports", pci.tokens.at("alice"),
                      json{{"mesh", "default"},
                           {"service", "payments-api"},
                           {"port", service->port()},
                           {"peers", {"internal"}},
                           {"reason", "netns"}});
    ASSERT_EQ(r.status, 201) << r.body.dump();
    export_id = r.body["id"];
    ASSERT_EQ(api_call(*c, "POST", "/api/v1/exports/" + export_id + "/approve", pci.tokens.at("bob")).status, 200);
  });
  // The catalog crosses the firewall under the broker rules alone.
  uint16_t local_port = 0;
  run_in_netns(topo.internal_, [&] {
    auto c = internal_broker.client(internal.dir / "pki/ca.pem");
    ASSERT_TRUE(wait_until([&] {
      auto r = api_call(*c, "GET", "/api/v1/imports/pci." + export_id, internal.tokens.at("victor"));
      if (r.status != 200 || r.body["state"] != "active" || !r.body["local"].is_object()) return false;
      local_port = r.body["local"]["port"];
      return true;
    })) << internal_broker.log();
  });

  // With an approved export and an active import, the rules now include the gateway flow.
  ASSERT_TRUE(topo.load_rules({rules(internal), rules(pci)}));
  EXPECT_NE(read_file(pci.dir / "rules.nft").find("tcp dport 15443"), std::string::npos);
  run_in_netns(topo.internal_, [&] {
    EXPECT_TRUE(wait_until([&] {
      return echo_round_trip(local_port, "through the firewall") == "through the firewall";
    })) << internal_broker.log()
        << pci_broker.log();
    // Straight to the service's address: no rule lets it through.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(service->port());
    ::inet_pton(AF_INET, "10.201.2.2", &a.sin_addr);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    pollfd p{fd, POLLOUT, 0};
    const int ready = ::poll(&p, 1, 2000);  // a dropped SYN never completes
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    ::close(fd);
    EXPECT_TRUE(ready == 0 || err != 0) << "a direct connection to the service got through the firewall";
  });
  // And without the rules, the gateway flow is dropped too: the rules are what lets it pass.
  ASSERT_TRUE(topo.load_rules({}));
  run_in_netns(topo.internal_, [&] {
    const int fd = connect_loopback(local_port);
    ASSERT_GE(fd, 0);
    send_all(fd, "blocked");
    ::shutdown(fd, SHUT_WR);
    EXPECT_EQ(read_until_eof(fd, std::chrono::seconds(8)), "");
    ::close(fd);
  });
  run_in_netns(topo.internal_, [&] { internal_broker.stop(); });
  run_in_netns(topo.pci_, [&] {
    pci_broker.stop();
    service.reset();
  });
}

}  // namespace
}  // namespace meshfed::testing
