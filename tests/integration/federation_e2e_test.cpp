// Brokers of different domains, each with its own CA, as real processes on loopback: what one
// exports to a peer reaches that peer and nobody else, and follows revocation, expiry,
// quarantine and silence.
#include <gtest/gtest.h>
#include <iostream>
#include <atomic>
#include <signal.h>

#include <thread>

#include "meshfed/pki/pki.hpp"
#include "approve.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;

class FederationTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }

  virtual void start(int stale_after_s = 60, int withdraw_after_s = 600, const std::string& policy = "auto") {
    fed_ = std::make_unique<Federation>(
        std::map<std::string, std::vector<std::string>>{
            {"pci", {"internal", "dmz"}}, {"internal", {"pci", "dmz"}}, {"dmz", {"internal", "pci"}}},
        policy, stale_after_s, withdraw_after_s);
    fed_->start_all();
    fed_->connect();
    for (const std::string d : {"pci", "internal", "dmz"}) clients_[d] = fed_->admin(d);
    ASSERT_TRUE(wait_until([&] { return peer_state("internal", "pci") == "connected"; }))
        << fed_->broker("internal").log();
  }

  ApiResult call(const std::string& d, const std::string& method, const std::string& target, const std::string& who,
                 const std::optional<json>& body = std::nullopt) {
    return api_call(*clients_.at(d), method, target, fed_->domain(d).tokens.at(who), body);
  }

  std::string export_from_pci(const std::vector<std::string>& peers, const json& extra = json::object()) {
    json body = {
        {"mesh", "default"}, {"service", "payments-api"}, {"port", 8443}, {"peers", peers}, {"reason", "checkout"}};
    body.update(extra);
    return request_and_approve(*fed_, "pci", body);
  }

  json import_of(const std::string& d, const std::string& import_id) {
    auto r = call(d, "GET", "/api/v1/imports/" + import_id, "victor");
    return r.status == 200 ? r.body : json::object();
  }

  std::string import_state(const std::string& d, const std::string& import_id) {
    return import_of(d, import_id).value("state", "");
  }

  std::string peer_state(const std::string& d, const std::string& peer) {
    auto r = call(d, "GET", "/api/v1/peers", "victor");
    for (const auto& p : r.body["items"]) {
      if (p["domain"] == peer) return p["state"];
    }
    return "";
  }

  json peer_of(const std::string& d, const std::string& peer) {
    auto r = call(d, "GET", "/api/v1/peers", "victor");
    for (const auto& p : r.body["items"]) {
      if (p["domain"] == peer) return p;
    }
    return json::object();
  }

  fs::path import_file(const std::string& d, const std::string& import_id) {
    return fed_->domain(d).dir / "imports" / ("meshfed-" + import_id + ".json");
  }

  std::unique_ptr<Federation> fed_;
  std::map<std::string, std::unique_ptr<http::HttpsClient>> clients_;
};

TEST_F(FederationTest, ExportScopedToOnePeerIsImportedThereAndNowhereElse) {
  const std::string id = export_from_pci({"internal"});
  const std::string import_id = "pci." + id;
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "active"; }))
      << fed_->broker("internal").log();
  const json imp = import_of("internal", import_id);
  EXPECT_EQ(imp["sni"], id + ".pci.meshfed");
  EXPECT_EQ(imp["ingress"]["host"], "127.0.0.1");
  EXPECT_EQ(imp["local"]["host"], "127.0.0.1");
  ASSERT_TRUE(wait_until([&] { return fs::exists(import_file("internal", import_id)); }));
  const json doc = json::parse(read_file(import_file("internal", import_id)));
  EXPECT_EQ(doc["type"], "MeshExternalService");
  EXPECT_EQ(doc["spec"]["endpoints"][0]["port"], imp["local"]["port"]);
  EXPECT_EQ(doc["spec"]["match"]["port"], 8443);
  // dmz is synced with pci but was never shown the export.
  ASSERT_TRUE(wait_until([&] { return peer_of("dmz", "pci").value("revision", 0) >= 1; }));
  EXPECT_EQ(call("dmz", "GET", "/api/v1/imports", "victor").body["items"].size(), 0u);
}

TEST_F(FederationTest, FirewallFlowsFollowApprovalsAndNftAcceptsThem) {
  const std::string id = export_from_pci({"internal"});
  ASSERT_TRUE(wait_until([&] { return import_state("internal", "pci." + id) == "active"; }));
  auto flows = call("pci", "GET", "/api/v1/firewall?format=json", "victor");
  ASSERT_EQ(flows.status, 200) << flows.body.dump();
  std::set<std::string> inbound_gateway;
  for (const auto& f : flows.body["flows"]) {
    if (f["direction"] == "inbound" && f["kind"] == "gateway") inbound_gateway.insert(f["peer"].get<std::string>());
  }
  EXPECT_EQ(inbound_gateway, std::set<std::string>{"internal"});  // dmz has nothing approved
  auto nft = clients_["pci"]->request("GET", "/api/v1/firewall?format=nftables",
                                      {{"Authorization", "Bearer " + fed_->domain("pci").tokens["victor"]}});
  ASSERT_TRUE(nft.ok());
  ASSERT_EQ(nft->status, 200) << nft->body;
  EXPECT_NE(nft->body.find("table inet meshfed_pci"), std::string::npos);
  write_file(fed_->dir() / "pci.nft", nft->body);
  if (std::system("command -v nft >/dev/null 2>&1") == 0) {
    EXPECT_EQ(std::system(("nft -c -f " + (fed_->dir() / "pci.nft").string()).c_str()), 0) << nft->body;
  }
  // The same from the command line, off the broker's store.
  auto cli = run_meshfed({"firewall", "--config", fed_->domain("pci").config_file.string(), "--format", "nftables"});
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("table inet meshfed_pci"), std::string::npos);
  // Router mode needs our own source_cidrs, which this domain lacks: an error, not an open rule.
  auto router = call("pci", "GET", "/api/v1/firewall?format=nftables&mode=router", "victor");
  EXPECT_EQ(router.status, 409);
}

TEST_F(FederationTest, RevokeWithdrawsTheImportAndRemovesItsFile) {
  const std::string id = export_from_pci({"internal"});
  const std::string import_id = "pci." + id;
  ASSERT_TRUE(wait_until([&] { return fs::exists(import_file("internal", import_id)); }));
  ASSERT_EQ(call("pci", "POST", "/api/v1/exports/" + id + "/revoke", "bob").status, 200);
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "withdrawn"; }));
  EXPECT_EQ(import_of("internal", import_id)["reason"], "export left the catalog");
  EXPECT_TRUE(wait_until([&] { return !fs::exists(import_file("internal", import_id)); }));
}

TEST_F(FederationTest, ExpiryAtTheExporterWithdrawsAtTheImporter) {
  const std::string id = export_from_pci({"internal"}, {{"ttl_s", 2}});
  const std::string import_id = "pci." + id;
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "active"; }));
  EXPECT_TRUE(wait_until([&] { return import_state("internal", import_id) == "withdrawn"; }));
  EXPECT_TRUE(wait_until([&] { return !fs::exists(import_file("internal", import_id)); }));
}

TEST_F(FederationTest, QuarantineCutsThePeerOffAndReleaseUndoesIt) {
  const std::string id = export_from_pci({"internal"});
  const std::string import_id = "pci." + id;
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "active"; }));
  auto q = call("internal", "POST", "/api/v1/peers/pci/quarantine", "root", json{{"reason", "incident 42"}});
  ASSERT_EQ(q.status, 200) << q.body.dump();
  EXPECT_EQ(q.body["state"], "quarantined");
  EXPECT_EQ(import_state("internal", import_id), "withdrawn");
  EXPECT_EQ(import_of("internal", import_id)["reason"], "peer quarantined");
  EXPECT_TRUE(wait_until([&] { return !fs::exists(import_file("internal", import_id)); }));
  // Our peer API refuses pci now: pci's watcher of internal records the 403.
  ASSERT_TRUE(wait_until([&] {
    return peer_of("pci", "internal").value("last_error", json("")).dump().find("403") != std::string::npos;
  })) << peer_of("pci", "internal").dump();
  EXPECT_EQ(peer_of("internal", "pci")["quarantined"]["reason"], "incident 42");
  EXPECT_EQ(call("internal", "POST", "/api/v1/peers/pci/quarantine", "bob", json{{"reason", "x"}}).status, 403);

  ASSERT_EQ(call("internal", "POST", "/api/v1/peers/pci/release", "root", json{{"reason", "resolved"}}).status, 200);
  EXPECT_TRUE(wait_until([&] { return import_state("internal", import_id) == "active"; }));
  EXPECT_TRUE(wait_until([&] { return fs::exists(import_file("internal", import_id)); }));
  bool audited = false;
  const auto audit = call("internal", "GET", "/api/v1/audit?limit=1000", "victor");
  for (const auto& e : audit.body["items"]) {
    audited |= e["action"] == "peer.quarantined" && e["actor"] == "root";
  }
  EXPECT_TRUE(audited);
}

// Quarantine raced against answers in flight: pci's catalog keeps changing (its exports are
// extended over and over), so internal's watcher always has an answer on its way while an
// operator quarantines and releases pci 500 times. Not once may an import of pci be active
// while pci is quarantined.
TEST_F(FederationTest, QuarantineRacingAnswersInFlightNeverLeavesAnImportActive) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(export_from_pci({"internal"}, {{"alias", "pay-" + std::to_string(i)}}));
  ASSERT_TRUE(wait_until([&] { return import_state("internal", "pci." + ids.back()) == "active"; }));
  std::atomic<bool> stop{false};
  std::atomic<int> extended{0};
  std::thread churn([&] {
    auto pci = fed_->admin("pci");
    for (size_t i = 0; !stop; ++i) {
      const auto r = api_call(*pci, "POST", "/api/v1/exports/" + ids[i % ids.size()] + "/extend",
                              fed_->domain("pci").tokens.at("bob"), json{{"comment", "churn"}});
      extended += r.status == 200;
    }
  });
  auto active_from_pci = [&] {
    const json items = call("internal", "GET", "/api/v1/imports?limit=100", "victor").body["items"];
    int n = 0;
    for (const auto& i : items) n += i["peer"] == "pci" && i["state"] == "active";
    return n;
  };
  int violations = 0, reactivated = 0;
  for (int attempt = 0; attempt < 500; ++attempt) {
    ASSERT_EQ(call("internal", "POST", "/api/v1/peers/pci/quarantine", "root", json{{"reason", "race"}}).status, 200);
    violations += active_from_pci();  // right after the quarantine committed
    (void)call("internal", "GET", "/api/v1/peers", "victor");
    violations += active_from_pci();  // and after an answer in flight had time to land
    ASSERT_EQ(call("internal", "POST", "/api/v1/peers/pci/release", "root", json{{"reason", "race"}}).status, 200);
    reactivated += active_from_pci() > 0;
  }
  stop = true;
  churn.join();
  EXPECT_EQ(violations, 0);
  EXPECT_GT(extended.load(), 0) << "the catalog did change meanwhile";
  EXPECT_TRUE(wait_until([&] { return active_from_pci() == 3; }))
      << "released, pci's imports come back\n"
      << call("internal", "GET", "/api/v1/imports?limit=100", "victor").body.dump() << "\n"
      << peer_of("internal", "pci").dump();
  std::cout << "500 quarantines raced against " << extended.load() << " catalog changes; " << reactivated
            << " releases saw imports back before the next quarantine; " << violations
            << " imports seen active while quarantined\n";
}

TEST_F(FederationTest, QuarantineSurvivesRestart) {
  ASSERT_EQ(call("internal", "POST", "/api/v1/peers/pci/quarantine", "root", json{{"reason", "x"}}).status, 200);
  fed_->broker("internal").stop();
  fed_->broker("internal").start();
  clients_["internal"] = fed_->admin("internal");
  EXPECT_EQ(peer_state("internal", "pci"), "quarantined");
}

TEST_F(FederationTest, ImporterRestartResumesWithoutDuplicates) {
  const std::string id = export_from_pci({"internal"});
  const std::string import_id = "pci." + id;
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "active"; }));
  const json before = import_of("internal", import_id);
  const int64_t revision = peer_of("internal", "pci")["revision"];
  fed_->broker("internal").kill_hard();
  fed_->broker("internal").start();
  clients_["internal"] = fed_->admin("internal");
  EXPECT_GE(peer_of("internal", "pci")["revision"].get<int64_t>(), revision);  // resumes from the stored revision
  ASSERT_TRUE(wait_until([&] { return peer_state("internal", "pci") == "connected"; }));
  EXPECT_EQ(call("internal", "GET", "/api/v1/imports", "victor").body["items"].size(), 1u);
  const json after = import_of("internal", import_id);
  EXPECT_EQ(after["local"], before["local"]);
  EXPECT_EQ(after["state"], "active");
  size_t files = 0;
  for (const auto& f : fs::directory_iterator(fed_->domain("internal").dir / "imports")) files += f.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST_F(FederationTest, LongPollWakesOnTheCallersChangeOnly) {
  // As dmz's broker (its real certificate), long-poll pci at its current revision.
  auto peer_client = [&](const std::string& as) {
    http::ClientOptions o =
        http::ClientOptions::verifying("127.0.0.1", fed_->peer_api_port("pci"), fed_->domain("pci").dir / "pki/ca.pem");
    o.cert_file = fed_->domain(as).dir / "pki/broker.pem";
    o.key_file = fed_->domain(as).dir / "pki/broker-key.pem";
    return std::move(http::HttpsClient::create(o)).value();
  };
  auto dmz = peer_client("dmz");
  auto internal = peer_client("internal");
  export_from_pci({"dmz"});  // some history first, so that `since` is a real revision
  const auto snap = json::parse(dmz->request("GET", "/federation/v1/catalog")->body);
  const int64_t rev = snap["revision"];
  Result<http::ClientResponse> dmz_answer = make_error(ErrorCode::kInternal, "not run");
  Result<http::ClientResponse> internal_answer = make_error(ErrorCode::kInternal, "not run");
  std::thread dmz_poll(
      [&] { dmz_answer = dmz->request("GET", "/federation/v1/catalog?since=" + std::to_string(rev) + "&wait=3"); });
  std::thread internal_poll([&] {
    internal_answer = internal->request("GET", "/federation/v1/catalog?since=" + std::to_string(rev) + "&wait=60");
  });
  const std::string id = export_from_pci({"internal"});
  internal_poll.join();
  dmz_poll.join();
  ASSERT_TRUE(internal_answer.ok());
  EXPECT_EQ(internal_answer->status, 200);  // woken by the change; otherwise 304 after 60 s
  const auto delta = json::parse(internal_answer->body);
  EXPECT_EQ(delta["full"], false);
  EXPECT_EQ(delta["upserts"][0]["id"], id);
  ASSERT_TRUE(dmz_answer.ok());
  EXPECT_EQ(dmz_answer->status, 304);  // a change scoped to internal is not dmz's business
}

TEST_F(FederationTest, ImpostorsNoCertificateAndOldTlsAreRefused) {
  const uint16_t port = fed_->peer_api_port("pci");
  const fs::path pci_ca = fed_->domain("pci").dir / "pki/ca.pem";
  auto try_as = [&](const fs::path& cert, const fs::path& key) {
    http::ClientOptions o = http::ClientOptions::verifying("127.0.0.1", port, pci_ca);
    o.cert_file = cert;
    o.key_file = key;
    auto c = http::HttpsClient::create(o);
    if (!c) return false;
    auto r = (*c)->request("GET", "/federation/v1/catalog");
    return r.ok() && r->status == 200;
  };
  const fs::path d = fed_->dir();
  EXPECT_TRUE(try_as(d / "internal/pki/broker.pem", d / "internal/pki/broker-key.pem"));
  auto forge = [&](const std::string& ca, std::vector<std::string> uris, std::chrono::seconds not_after,
                   const std::string& name) {
    pki::CustomLeaf leaf;
    leaf.uris = std::move(uris);
    leaf.not_after = not_after;
    if (not_after.count() < 0) leaf.not_before = not_after - std::chrono::hours(1);
    EXPECT_TRUE(pki::issue_custom_leaf(d / ca / "pki", leaf, d / (name + ".pem"), d / (name + "-key.pem")).ok());
    return std::make_pair(d / (name + ".pem"), d / (name + "-key.pem"));
  };
  const auto claim_internal = std::vector<std::string>{"spiffe://internal/meshfed/broker"};
  for (const auto& [cert, key] : {forge("dmz", claim_internal, std::chrono::hours(1), "dmz-as-internal"),
                                  forge("pci", claim_internal, std::chrono::hours(1), "ours-as-internal"),
                                  forge("internal", {"spiffe://internal/meshfed/broker", "spiffe://dmz/meshfed/broker"},
                                        std::chrono::hours(1), "two-sans"),
                                  forge("internal", claim_internal, std::chrono::hours(-1), "expired")}) {
    EXPECT_FALSE(try_as(cert, key)) << cert;
  }
  EXPECT_FALSE(try_as(d / "internal/pki/egress.pem", d / "internal/pki/egress-key.pem"));  // not a broker identity
  auto no_cert = http::HttpsClient::create(http::ClientOptions::verifying("127.0.0.1", port, pci_ca));
  EXPECT_FALSE((*no_cert)->request("GET", "/federation/v1/catalog").ok());
  const std::string tls12 = "curl -s -o /dev/null --tlsv1.2 --tls-max 1.2 --cacert " + pci_ca.string() + " --cert " +
                            (d / "internal/pki/broker.pem").string() + " --key " +
                            (d / "internal/pki/broker-key.pem").string() +
                            " https://127.0.0.1:" + std::to_string(port) + "/federation/v1/catalog";
  EXPECT_NE(std::system(tls12.c_str()), 0);
  // Every refusal above was counted.
  auto metrics = clients_["pci"]->request("GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("meshfed_peer_api_handshake_failures_total{reason="), std::string::npos);
  // An unknown version is a 404 naming the supported one.
  http::ClientOptions o = http::ClientOptions::verifying("127.0.0.1", port, pci_ca);
  o.cert_file = d / "internal/pki/broker.pem";
  o.key_file = d / "internal/pki/broker-key.pem";
  auto v2 = (*http::HttpsClient::create(o))->request("GET", "/federation/v2/catalog");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->status, 404);
  EXPECT_NE(v2->body.find("v1"), std::string::npos);
}

TEST_F(FederationTest, AStrangerWhoseCertificatesKeepFailingIsTurnedAwayAtAcceptNotItsNeighbours) {
  const fs::path d = fed_->dir();
  const std::string make_stranger =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
      "-subj /CN=stranger -keyout " +
      (d / "stranger-key.pem").string() + " -out " + (d / "stranger.pem").string() + " 2>/dev/null";
  ASSERT_EQ(std::system(make_stranger.c_str()), 0);
  // From 127.0.0.2: the peers of this federation all come from 127.0.0.1.
  const std::string knock = "curl -s -o /dev/null -k --max-time 5 --interface 127.0.0.2 --cert " +
                            (d / "stranger.pem").string() + " --key " + (d / "stranger-key.pem").string() +
                            " https://127.0.0.1:" + std::to_string(fed_->peer_api_port("pci")) +
                            "/federation/v1/catalog";
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) EXPECT_NE(std::system(knock.c_str()), 0) << i;
  // The budget is a burst of 20 refilled by one every 2 s (FailureBudget): the first 20
  // handshakes are refused by TLS, what the refill allows meanwhile too, the rest at accept,
  // before any TLS work. Every one of the 30 is counted once, as one or the other.
  const auto refills = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began) /
                       std::chrono::milliseconds(2000);
  const double failed =
      fed_->metric("pci", "meshfed_auth_failures_total{listener=\"peer\",reason=\"certificate verify failed\"}");
  const double refused =
      fed_->metric("pci", "meshfed_connections_refused_total{listener=\"peer\",reason=\"failed_credentials\"}");
  EXPECT_GE(failed, 20);
  EXPECT_LE(failed, 20 + refills + 1);
  EXPECT_EQ(failed + refused, 30);
  const std::string log = fed_->broker("pci").log();
  size_t lines = 0;
  for (size_t at = log.find("from 127.0.0.2 refused"); at != std::string::npos;
       at = log.find("from 127.0.0.2 refused", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << "one log line per source per minute, not one per refusal";
  // The peers next door, on 127.0.0.1, were never slowed.
  const std::string id = export_from_pci({"internal"});
  EXPECT_TRUE(wait_until([&] { return import_state("internal", "pci." + id) == "active"; }))
      << fed_->broker("internal").log();
}

class ManualFederationTest : public FederationTest {
 protected:
  void SetUp() override { start(60, 600, "manual"); }
};

TEST_F(ManualFederationTest, ManualPeerNeedsAnApproversAcceptance) {
  const std::string id = export_from_pci({"internal"});
  const std::string import_id = "pci." + id;
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "pending_acceptance"; }));
  EXPECT_FALSE(fs::exists(import_file("internal", import_id)));
  EXPECT_TRUE(import_of("internal", import_id)["local"].is_null());
  EXPECT_EQ(call("internal", "POST", "/api/v1/imports/" + import_id + "/accept", "alice").status, 403);
  // Through the CLI, as an approver would.
  const std::map<std::string, std::string> env = {
      {"MESHFED_URL", "https://127.0.0.1:" + std::to_string(fed_->broker("internal").admin_port())},
      {"MESHFED_CA_FILE", (fed_->domain("internal").dir / "pki/ca.pem").string()},
      {"MESHFED_TOKEN", fed_->domain("internal").tokens.at("bob")}};
  auto listed = run_meshfed({"ctl", "imports"}, env);
  EXPECT_NE(listed.output.find("pending_acceptance"), std::string::npos) << listed.output;
  auto accepted_cli =
      run_meshfed({"ctl", "imports", "accept", import_id, "--comment", "reviewed by bob", "--json"}, env);
  ASSERT_EQ(accepted_cli.exit_code, 0) << accepted_cli.output;
  const json accepted = json::parse(accepted_cli.output);
  EXPECT_EQ(accepted["state"], "active");
  EXPECT_FALSE(accepted["local"].is_null());
  auto peers = run_meshfed({"ctl", "peers"}, env);
  EXPECT_NE(peers.output.find("connected"), std::string::npos) << peers.output;
  EXPECT_TRUE(fs::exists(import_file("internal", import_id)));
  EXPECT_EQ(call("internal", "POST", "/api/v1/imports/" + import_id + "/reject", "bob").status, 409);
  // The comment given on the command line is in the audit log.
  EXPECT_NE(call("internal", "GET", "/api/v1/audit?limit=1000", "bob").body.dump().find("reviewed by bob"),
            std::string::npos);
}

class SilenceFederationTest : public FederationTest {
 protected:
  void SetUp() override { start(2, 4); }
};

TEST_F(SilenceFederationTest, SilentPeerGoesStaleThenWithdrawnAndComesBackWithTheSamePort) {
  const std::string id = export_from_pci({"internal"});
  const std::string import_id = "pci." + id;
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "active"; }));
  const json before = import_of("internal", import_id);
  fed_->broker("pci").stop();
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "stale"; }));
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "withdrawn"; }));
  EXPECT_EQ(import_of("internal", import_id)["reason"], "peer silent");
  EXPECT_EQ(peer_state("internal", "pci"), "stale");
  EXPECT_FALSE(fs::exists(import_file("internal", import_id)));
  fed_->broker("pci").start();  // same config, but a new peer API port: tell internal
  fed_->connect();
  clients_["pci"] = fed_->admin("pci");
  ASSERT_TRUE(wait_until([&] { return import_state("internal", import_id) == "active"; }))
      << fed_->broker("internal").log();
  const json after = import_of("internal", import_id);
  EXPECT_EQ(after["id"], before["id"]);
  EXPECT_EQ(after["local"], before["local"]);
}

}  // namespace
}  // namespace meshfed::testing
