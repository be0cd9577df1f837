// Peering in one step, end to end: two brokers started with no peers at all become peers
// through `meshfed ctl peers` alone (a bundle mailed, a fingerprint read aloud, four-eyes on
// each side), an export then flows from one to the other, and a removal cuts the live
// connection.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <set>

#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class PeeringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fed_ = std::make_unique<Federation>(std::map<std::string, std::vector<std::string>>{{"pci", {}}, {"internal", {}}},
                                        "auto", 60, 600, /*gateways=*/true);
    for (const std::string d : {"pci", "internal"}) fed_->advertise_peer_api(d);
    fed_->domain("pci").offer_only("payments-api", echo_.port());
    fed_->start_all();
    for (const std::string d : {"pci", "internal"}) clients_[d] = fed_->admin(d);
  }

  // `meshfed ctl ...` against domain `d`'s broker as `who`.
  CommandResult ctl(const std::string& d, const std::string& who, std::vector<std::string> args) {
    args.insert(args.begin(), "ctl");
    return run_meshfed(args, {{"MESHFED_URL", "https://127.0.0.1:" + std::to_string(fed_->broker(d).admin_port())},
                              {"MESHFED_CA_FILE", (fed_->domain(d).dir / "pki/ca.pem").string()},
                              {"MESHFED_TOKEN", fed_->domain(d).tokens.at(who)}});
  }

  ApiResult call(const std::string& d, const std::string& method, const std::string& target, const std::string& who,
                 const std::optional<json>& body = std::nullopt) {
    return api_call(*clients_.at(d), method, target, fed_->domain(d).tokens.at(who), body);
  }

  // Domain `d`'s bundle as its admin mails it: a file, and the fingerprint read aloud.
  std::pair<fs::path, std::string> bundle_of(const std::string& d) {
    const auto r = ctl(d, "victor", {"peers", "bundle", "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const fs::path file = fed_->dir() / (d + "-bundle.json");
    write_file(file, r.output);
    return {file, json::parse(r.output)["fingerprint"].get<std::string>()};
  }

  // `d`'s view of peer `peer`: null when it lists no such peer.
  json peer_of(const std::string& d, const std::string& peer) {
    const json peers = call(d, "GET", "/api/v1/peers", "victor").body["items"];
    for (const auto& p : peers) {
      if (p["domain"] == peer) return p;
    }
    return nullptr;
  }

  // `importer` adds `exporter` by its bundle: root proposes, ada approves.
  void add_peer(const std::string& importer, const std::string& exporter) {
    const auto [file, fingerprint] = bundle_of(exporter);
    const auto proposed = ctl(importer, "root",
                              {"peers", "add", "--bundle", file.string(), "--fingerprint", fingerprint,
                               "--import-policy", "auto", "--reason", "CHG-2231"});
    ASSERT_EQ(proposed.exit_code, 0) << proposed.output;
    const auto approved = ctl(importer, "ada", {"peers", "approve", exporter, "--comment", "compared by phone"});
    ASSERT_EQ(approved.exit_code, 0) << approved.output;
  }

  // pci exports payments-api to internal through the usual commands; returns the export id.
  std::string request_and_approve() {
    const auto requested =
        ctl("pci", "alice",
            {"exports", "request", "--service", "payments-api", "--port", std::to_string(echo_.port()), "--peer",
             "internal", "--reason", "checkout", "-o", "json"});
    EXPECT_EQ(requested.exit_code, 0) << requested.output;
    const std::string id = json::parse(requested.output, nullptr, false).value("id", "");
    const auto approved = ctl("pci", "bob", {"exports", "approve", id});
    EXPECT_EQ(approved.exit_code, 0) << approved.output;
    return id;
  }

  // The egress port of internal's import of `id`, once bytes cross through it; 0 if never.
  uint16_t egress_port_of(const std::string& id) {
    uint16_t port = 0;
    const bool flows = wait_until([&] {
      const auto r = call("internal", "GET", "/api/v1/imports/pci." + id, "victor");
      if (r.status != 200 || r.body["state"] != "active" || r.body["local"].is_null()) return false;
      port = r.body["local"]["port"];
      return echo_round_trip(port, "probe") == "probe";
    });
    EXPECT_TRUE(flows) << fed_->broker("internal").log();
    return flows ? port : 0;
  }

  // The peers `d`'s firewall flows name, by direction and kind ("inbound gateway: internal").
  std::set<std::string> flows_of(const std::string& d) {
    std::set<std::string> out;
    const json flows = call(d, "GET", "/api/v1/firewall?format=json", "victor").body["flows"];
    for (const auto& f : flows) {
      out.insert(f["direction"].get<std::string>() + " " + f["kind"].get<std::string>() + ": " +
                 f["peer"].get<std::string>());
    }
    return out;
  }

  // Opens a connection through the egress `port`, has `d`'s admin remove `peer`, and returns how
  // long after the command answered the connection ended (10 s and a failure if it did not).
  std::chrono::milliseconds ended_after_removal(const std::string& d, const std::string& peer, uint16_t port) {
    const int fd = live_connection(port);
    EXPECT_GE(fd, 0);
    const auto removing = std::chrono::steady_clock::now();
    const auto removed = ctl(d, "ada", {"peers", "remove", peer, "--reason", "contract ended"});
    const auto answered = std::chrono::steady_clock::now();
    EXPECT_EQ(removed.exit_code, 0) << removed.output;
    bool clean = false;
    read_until_eof(fd, 10s, &clean);
    const auto ended = std::chrono::steady_clock::now();
    ::close(fd);
    EXPECT_TRUE(clean) << "the connection was not ended";
    const auto ms = [](auto t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t); };
    std::cout << d << " removed " << peer << ": the command took " << ms(answered - removing).count()
              << " ms; the live connection ended " << ms(ended - answered).count() << " ms after it answered\n";
    return ms(ended - answered);
  }

  int audited(const std::string& d, const std::string& action) {
    int n = 0;
    const json entries = call(d, "GET", "/api/v1/audit?limit=1000", "victor").body["items"];
    for (const auto& e : entries) n += e["action"] == action;
    return n;
  }

  EchoServer echo_;
  std::unique_ptr<Federation> fed_;
  std::map<std::string, std::unique_ptr<http::HttpsClient>> clients_;
};

TEST_F(PeeringTest, TwoBrokersWithNoPeersPeerThroughCtlAloneAndAnExportFlows) {
  EXPECT_TRUE(call("pci", "GET", "/api/v1/peers", "victor").body["items"].empty());
  add_peer("pci", "internal");
  // pci trusts internal now, internal not yet pci: mutual TLS cannot succeed, and pci says why.
  EXPECT_EQ(peer_of("pci", "internal")["state"], "waiting for the peer");
  EXPECT_EQ(peer_of("pci", "internal")["source"], "api");
  EXPECT_EQ(fed_->metric("pci", "meshfed_peers{state=\"waiting for the peer\"}"), 1);
  EXPECT_TRUE(wait_until([&] { return peer_of("pci", "internal")["last_error"].is_string(); }))
      << fed_->broker("pci").log();

  add_peer("internal", "pci");
  ASSERT_TRUE(wait_until([&] {
    return peer_of("pci", "internal")["state"] == "connected" && peer_of("internal", "pci")["state"] == "connected";
  })) << fed_->broker("internal").log();
  EXPECT_EQ(fed_->metric("internal", "meshfed_peers{state=\"connected\"}"), 1);
  const auto listed = ctl("internal", "victor", {"peers"});
  EXPECT_NE(listed.output.find("pci     api     connected"), std::string::npos) << listed.output;

  // The usual export commands: requested by one, approved by another, carried to internal.
  const uint16_t port = egress_port_of(request_and_approve());
  ASSERT_NE(port, 0);

  // The firewall flows follow: both brokers' APIs, and internal's egress to pci's ingress.
  EXPECT_TRUE(flows_of("pci").count("inbound gateway: internal")) << json(flows_of("pci")).dump();
  EXPECT_TRUE(flows_of("pci").count("inbound peer_api: internal")) << json(flows_of("pci")).dump();
  EXPECT_TRUE(flows_of("internal").count("outbound gateway: pci")) << json(flows_of("internal")).dump();

  // A live connection through internal's egress and pci's ingress ends when pci removes
  // internal: its ingress no longer admits internal's egress. The cut is made before the
  // removal is answered: what is left is the bytes in flight.
  EXPECT_LT(ended_after_removal("pci", "internal", port), 100ms);
  EXPECT_TRUE(peer_of("pci", "internal").is_null());
  for (const auto& flow : flows_of("pci")) EXPECT_EQ(flow.find("internal"), std::string::npos) << flow;
  EXPECT_EQ(audited("pci", "peer.removed"), 1);
  const std::string cut = "meshfed_gateway_connections_cut_total{gateway=\"ingress\",reason=\"";
  EXPECT_GE(fed_->metric("pci", cut + "peer_trust_changed\"}") + fed_->metric("pci", cut + "route_withdrawn\"}"), 1);
}

// The importing side removes the exporter: its import is withdrawn and its egress cuts the
// live connection before the removal is answered, and the peer API no longer serves pci.
TEST_F(PeeringTest, TheImporterRemovingAPeerCutsItsEgressAndWithdrawsItsImports) {
  add_peer("pci", "internal");
  add_peer("internal", "pci");
  const std::string id = request_and_approve();
  const uint16_t port = egress_port_of(id);
  ASSERT_NE(port, 0);
  EXPECT_LT(ended_after_removal("internal", "pci", port), 100ms);
  const auto import = call("internal", "GET", "/api/v1/imports/pci." + id, "victor").body;
  EXPECT_EQ(import["state"], "withdrawn");
  EXPECT_EQ(import["reason"], "peer removed");
  // Whichever comes first ends it: the peer's trust gone, or the import's route.
  const std::string cut = "meshfed_gateway_connections_cut_total{gateway=\"egress\",reason=\"";
  EXPECT_EQ(
      fed_->metric("internal", cut + "peer_trust_changed\"}") + fed_->metric("internal", cut + "route_withdrawn\"}"),
      1);
}

// pci rolls its CA over while internal's client keeps calling through both gateways: the next
// CA joins pci's bundle, internal approves the bundle carrying both, pci's certificates are
// re-issued by the next CA, the old CA is retired and internal approves the bundle without it.
// At every step a new connection gets through; the one opened first stays up until the CA that
// verified it is no longer trusted.
TEST_F(PeeringTest, ACaRolloverKeepsTrafficFlowingThroughout) {
  add_peer("pci", "internal");
  add_peer("internal", "pci");
  ASSERT_TRUE(wait_until([&] { return peer_of("internal", "pci")["state"] == "connected"; }))
      << fed_->broker("internal").log();
  const std::string id = request_and_approve();
  const uint16_t port = egress_port_of(id);
  ASSERT_NE(port, 0);
  const int live = connect_loopback(port);
  ASSERT_GE(live, 0);
  auto live_echoes = [&](const std::string& what) {
    char buf[32] = {};
    return send_all(live, what) && ::recv(live, buf, what.size(), MSG_WAITALL) == static_cast<ssize_t>(what.size()) &&
           std::string(buf, what.size()) == what;
  };
  ASSERT_TRUE(live_echoes("before"));
  auto& pci = fed_->domain("pci");
  const std::string ca_dir = (pci.dir / "pki").string();
  // pci reloads; its admin client trusts whatever ca.pem holds now.
  int reloads = 0;
  auto reload_pci = [&] {
    fed_->broker("pci").signal(SIGHUP);
    ++reloads;
    clients_["pci"] = fed_->admin("pci");
    ASSERT_TRUE(wait_until([&] { return audited("pci", "config.reloaded") == reloads; })) << fed_->broker("pci").log();
  };
  // internal takes pci's new bundle: root proposes, ada approves.
  auto internal_takes = [&](const fs::path& bundle_file) {
    const std::string fingerprint = json::parse(read_file(bundle_file))["fingerprint"];
    const auto proposed = ctl("internal", "root",
                              {"peers", "rollover", "pci", "--bundle", bundle_file.string(), "--fingerprint",
                               fingerprint, "--reason", "pci CA rollover"});
    ASSERT_EQ(proposed.exit_code, 0) << proposed.output;
    const auto own = ctl("internal", "root", {"peers", "approve", "pci"});
    EXPECT_NE(own.output.find("four-eyes"), std::string::npos) << own.output;
    const auto approved = ctl("internal", "ada", {"peers", "approve", "pci"});
    ASSERT_EQ(approved.exit_code, 0) << approved.output;
  };
  auto traffic_flows = [&](const std::string& step) {
    EXPECT_EQ(echo_round_trip(port, "new after " + step), "new after " + step) << fed_->broker("internal").log();
    EXPECT_TRUE(live_echoes("live")) << "the first connection, after " << step;
  };

  const auto rolled =
      run_meshfed({"pki", "rollover", "--ca-dir", ca_dir, "--config", pci.config_file.string(), "-o", "json"});
  ASSERT_EQ(rolled.exit_code, 0) << rolled.output;
  const fs::path both = fed_->dir() / "pci-both.json";
  write_file(both, rolled.output.substr(rolled.output.find('{')));  // stderr's guidance comes first
  EXPECT_EQ(json::parse(read_file(both))["bundle"]["ca_pem"].size(), 2u);
  reload_pci();
  traffic_flows("the rollover");
  internal_takes(both);
  traffic_flows("internal trusts both CAs");

  // Retiring before the certificates are the next CA's is refused, and changes nothing.
  auto early = run_meshfed({"pki", "retire", "--ca-dir", ca_dir, "--config", pci.config_file.string()});
  EXPECT_NE(early.exit_code, 0);
  EXPECT_NE(early.output.find("re-issue it first"), std::string::npos) << early.output;
  for (const std::string role : {"broker", "ingress", "egress"}) {
    const auto issued = run_meshfed({"pki", "issue", "--ca-dir", ca_dir, "--role", role, "--ip", "127.0.0.1"});
    ASSERT_EQ(issued.exit_code, 0) << issued.output;
  }
  reload_pci();
  traffic_flows("pci's certificates are the next CA's");

  const auto retired =
      run_meshfed({"pki", "retire", "--ca-dir", ca_dir, "--config", pci.config_file.string(), "-o", "json"});
  ASSERT_EQ(retired.exit_code, 0) << retired.output;
  const fs::path next_only = fed_->dir() / "pci-next.json";
  write_file(next_only, retired.output.substr(retired.output.find('{')));
  EXPECT_EQ(json::parse(read_file(next_only))["bundle"]["ca_pem"].size(), 1u);
  reload_pci();
  internal_takes(next_only);
  EXPECT_EQ(echo_round_trip(port, "new after the retirement"), "new after the retirement");
  // The first connection met pci's ingress with the old CA's certificate: internal's egress
  // no longer trusts that CA, and ends it.
  bool clean = false;
  read_until_eof(live, 10s, &clean);
  EXPECT_TRUE(clean) << "the connection verified by the retired CA was not ended";
  EXPECT_EQ(fed_->metric("internal",
                         "meshfed_gateway_connections_cut_total{gateway=\"egress\",reason=\"peer_trust_changed\"}"),
            1);
  EXPECT_TRUE(wait_until([&] { return peer_of("internal", "pci")["state"] == "connected"; }));
  EXPECT_EQ(audited("internal", "peer.rolled_over"), 2);
  ::close(live);
}

TEST_F(PeeringTest, AWrongFingerprintATamperedBundleASelfApprovalAndADuplicateAreRefusedAndChangeNothing) {
  const auto [file, fingerprint] = bundle_of("internal");
  auto add = [&](const fs::path& bundle, const std::string& fp, const std::string& who) {
    return ctl("pci", who, {"peers", "add", "--bundle", bundle.string(), "--fingerprint", fp, "--reason", "CHG-2231"});
  };
  auto peers = [&] { return call("pci", "GET", "/api/v1/peers", "victor").body["items"]; };

  // One digit wrong, as misheard on the phone.
  std::string misheard = fingerprint;
  misheard[0] = misheard[0] == '0' ? '1' : '0';
  auto r = add(file, misheard, "root");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("fingerprint"), std::string::npos) << r.output;
  EXPECT_TRUE(peers().empty());

  // The bundle changed on its way (another source range), the true fingerprint read aloud.
  json tampered = json::parse(read_file(file));
  tampered["bundle"]["source_cidrs"] = {"0.0.0.0/0"};
  const fs::path tampered_file = fed_->dir() / "tampered.json";
  write_file(tampered_file, tampered.dump());
  r = add(tampered_file, fingerprint, "root");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("fingerprint"), std::string::npos) << r.output;
  EXPECT_TRUE(peers().empty());
  EXPECT_EQ(audited("pci", "peer.proposal_refused"), 2);

  // Proposed by root: root cannot approve it too.
  ASSERT_EQ(add(file, fingerprint, "root").exit_code, 0);
  r = ctl("pci", "root", {"peers", "approve", "internal"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("four-eyes"), std::string::npos) << r.output;
  ASSERT_EQ(peers().size(), 1u);
  EXPECT_EQ(peers()[0]["state"], "proposed");
  EXPECT_EQ(audited("pci", "peer.four_eyes_refused"), 1);

  // The same domain again, by another admin.
  r = add(file, fingerprint, "ada");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("already proposed"), std::string::npos) << r.output;
  ASSERT_EQ(peers().size(), 1u);
  EXPECT_EQ(peers()[0]["peering"]["proposed_by"], "root");
  EXPECT_EQ(fed_->metric("pci", "meshfed_peers{state=\"proposed\"}"), 1);

  // A viewer may look but not add; a config peer cannot be removed through the API.
  EXPECT_EQ(call("pci", "POST", "/api/v1/peers", "victor", json{{"reason", "x"}}).status, 403);
  EXPECT_EQ(audited("pci", "peer.proposed"), 1);
}

TEST_F(PeeringTest, PeersAddedThroughTheApiSurviveARestartAndAReload) {
  add_peer("pci", "internal");
  add_peer("internal", "pci");
  ASSERT_TRUE(wait_until([&] { return peer_of("internal", "pci")["state"] == "connected"; }))
      << fed_->broker("internal").log();
  fed_->broker("internal").stop();
  fed_->broker("internal").start();
  clients_["internal"] = fed_->admin("internal");
  EXPECT_EQ(peer_of("internal", "pci")["source"], "api");
  ASSERT_TRUE(wait_until([&] { return peer_of("internal", "pci")["state"] == "connected"; }))
      << fed_->broker("internal").log();
  fed_->broker("internal").signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return audited("internal", "config.reloaded") == 1; }));
  EXPECT_EQ(peer_of("internal", "pci")["source"], "api");
  EXPECT_EQ(peer_of("internal", "pci")["state"], "connected");
}

}  // namespace
}  // namespace meshfed::testing
