// Traffic across a boundary, end to end on loopback: a client in `internal` reaches a service
// in `pci` through internal's egress and pci's ingress gateway, admitted by an approved export
// only, with real mTLS between gateways of domains that each have their own CA.
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <thread>

#include "meshfed/core/text.hpp"
#include "meshfed/pki/pki.hpp"
#include "meshfed/gateway/proxy_protocol.hpp"
#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fed_ = std::make_unique<Federation>(
        std::map<std::string, std::vector<std::string>>{
            {"pci", {"internal", "dmz"}}, {"internal", {"pci"}}, {"dmz", {"pci"}}},
        "auto", 60, 600, true);
    point_inventory_at(echo_.port(), proxy_echo_.port());
    configure();
    fed_->set_global_args("pci", {"--log-format", "json"});  // the access log's own keys are checked
    fed_->start_all();
    fed_->connect();
    for (const std::string d : {"pci", "internal"}) clients_[d] = fed_->admin(d);
  }

  virtual void configure() {}

  // payments-api is served by the echo service, ledger:5432 by the PROXY-reading one.
  void point_inventory_at(uint16_t echo_port, uint16_t proxy_port) {
    write_file(fed_->domain("pci").dir / "inventory.json",
               json{{"services",
                     {{{"mesh", "default"},
                       {"name", "payments-api"},
                       {"address", "127.0.0.1"},
                       {"ports", {{{"port", echo_port}, {"protocol", "tcp"}}}}},
                      {{"mesh", "default"},
                       {"name", "ledger"},
                       {"address", "127.0.0.1"},
                       {"ports", {{{"port", proxy_port}, {"protocol", "tcp"}}}}}}}}
                   .dump());
  }

  ApiResult call(const std::string& d, const std::string& method, const std::string& target, const std::string& who,
                 const std::optional<json>& body = std::nullopt) {
    return api_call(*clients_.at(d), method, target, fed_->domain(d).tokens.at(who), body);
  }

  // Exports `service` from pci to `peers`, approved; returns the export id.
  std::string approve_export(const std::string& service, uint16_t port, const std::vector<std::string>& peers,
                             const json& extra = json::object()) {
    json body = {{"mesh", "default"}, {"service", service}, {"port", port}, {"peers", peers}, {"reason", "checkout"}};
    body.update(extra);
    auto r = call("pci", "POST", "/api/v1/exports", "alice", body);
    EXPECT_EQ(r.status, 201) << r.body.dump();
    const std::string id = r.body.value("id", "");
    EXPECT_EQ(call("pci", "POST", "/api/v1/exports/" + id + "/approve", "bob").status, 200);
    return id;
  }

  // The egress port of internal's import of `export_id`, once traffic flows through it.
  uint16_t wait_for_route(const std::string& export_id) {
    uint16_t port = 0;
    const bool ok = wait_until([&] {
      auto r = call("internal", "GET", "/api/v1/imports/pci." + export_id, "victor");
      if (r.status != 200 || r.body["state"] != "active" || r.body["local"].is_null()) return false;
      port = r.body["local"]["port"];
      return echo_round_trip(port, "probe") == "probe";
    });
    EXPECT_TRUE(ok) << fed_->broker("internal").log() << fed_->broker("pci").log();
    return port;
  }

  double metric(const std::string& d, const std::string& series) { return fed_->metric(d, series); }

  EchoServer echo_;
  EchoServer proxy_echo_{EchoServer::Mode::kProxyThenEcho};
  std::unique_ptr<Federation> fed_;
  std::map<std::string, std::unique_ptr<http::HttpsClient>> clients_;
};

[[maybe_unused]] long rss_kib(int pid) {  // unused where sanitizers change RSS
  for (const auto& line : split(read_file("/proc/" + std::to_string(pid) + "/status"), '\n')) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::string sha256_of(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return std::string(reinterpret_cast<char*>(md), sizeof md);
}

TEST_F(GatewayTest, BytesCrossIntactBothWaysIncludingHalfCloseAnd100MB) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  const uint16_t port = wait_for_route(id);
  ASSERT_NE(port, 0);
  // Half-close: the client ends its side first and still receives the whole answer.
  EXPECT_EQ(echo_round_trip(port, "hello, pci"), "hello, pci");

  std::string big(100u * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string back = echo_round_trip(port, big);
  EXPECT_EQ(back.size(), big.size());
  EXPECT_TRUE(sha256_of(back) == sha256_of(big));

  const std::string route = "{gateway=\"egress\",route=\"pci." + id + "\",peer=\"pci\",direction=\"upstream\"}";
  EXPECT_TRUE(
      wait_until([&] { return metric("internal", "meshfed_gateway_bytes_total" + route) >= double(big.size()); }));
  EXPECT_GE(
      metric("pci", "meshfed_gateway_connections_total{gateway=\"ingress\",route=\"" + id + "\",peer=\"internal\"}"),
      3);
  // Under --log-format json the access log's fields are keys of their own (the line is written
  // when the ingress closes its side, which may be just after the client has read everything).
  const auto big_connection_logged = [&] {
    std::istringstream lines(fed_->broker("pci").log());
    for (std::string line; std::getline(lines, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || j.value("route", "") != id || j.value("bytes_up", int64_t{0}) < int64_t(big.size()))
        continue;
      return j.value("gateway", "") == "ingress" && j.value("peer", "") == "internal" &&
             j.value("result", "") == "ok" && j.contains("duration_ms") &&
             j.value("msg", "").starts_with("access: gateway=ingress peer=internal route=" + id);
    }
    return false;
  };
  const bool logged = wait_until(big_connection_logged);
  EXPECT_TRUE(logged) << fed_->broker("pci").log();
}

// The alerting rules (docs/prometheus) and the dashboard (docs/grafana) query metrics a running
// broker really exposes (once it has synced with its peers and carried traffic).
// A listening socket another program holds on loopback, for as long as it lives.
class Squatter {
 public:
  explicit Squatter(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    held_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 8) == 0;
  }
  ~Squatter() { ::close(fd_); }
  bool held() const { return held_; }

 private:
  int fd_;
  bool held_ = false;
};

// An import is active only on an egress port meshfed holds: ports another program listens on
// are skipped when the import is given one, and an import whose port was taken while its
// broker was away moves to a free one at start; the control plane follows each time.
TEST_F(GatewayTest, AnImportNeverPointsAtAnEgressPortAnotherProgramHolds) {
  const std::string range = fed_->domain("internal").config["gateways"]["egress"]["ports"];
  const auto first = static_cast<uint16_t>(std::stoi(range.substr(0, range.find('-'))));
  Squatter a(first), b(first + 1);
  ASSERT_TRUE(a.held() && b.held());
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  const uint16_t port = wait_for_route(id);
  EXPECT_EQ(port, first + 2);
  const fs::path file = fed_->domain("internal").dir / "imports" / ("meshfed-pci." + id + ".json");
  ASSERT_TRUE(wait_until([&] { return fs::exists(file); }));
  EXPECT_EQ(json::parse(read_file(file))["spec"]["endpoints"][0]["port"], first + 2);

  // Taken while internal's broker is away: at start the import moves, and says so.
  ASSERT_EQ(fed_->broker("internal").stop(), 0);
  Squatter c(first + 2);
  ASSERT_TRUE(c.held());
  fed_->broker("internal").start();
  clients_["internal"] = fed_->admin("internal");
  // (Traffic is sent only once the import has left the squatted port: the squatter never answers.)
  ASSERT_TRUE(wait_until([&] {
    auto r = call("internal", "GET", "/api/v1/imports/pci." + id, "victor");
    return r.status == 200 && r.body["state"] == "active" && r.body["local"].is_object() &&
           r.body["local"]["port"] == first + 3;
  })) << fed_->broker("internal").log();
  EXPECT_TRUE(wait_until([&] { return echo_round_trip(first + 3, "moved") == "moved"; }));
  EXPECT_TRUE(wait_until([&] { return json::parse(read_file(file))["spec"]["endpoints"][0]["port"] == first + 3; }));
  EXPECT_TRUE(wait_until([&] {
    auto r = call("internal", "GET", "/readyz", "victor");
    return r.status == 200 && r.body["checks"]["egress"] == "ok";
  })) << call("internal", "GET", "/readyz", "victor").body.dump();
  const json audit = call("internal", "GET", "/api/v1/audit?limit=1000", "victor").body["items"];
  EXPECT_TRUE(std::any_of(audit.begin(), audit.end(), [&](const json& e) {
    return e["action"] == "import.egress_port_moved" && e["details"]["from_port"] == first + 2 &&
           e["details"]["to_port"] == first + 3;
  })) << audit.dump();
}

TEST_F(GatewayTest, EveryMetricTheAlertsAndTheDashboardUseIsExposed) {
  const std::string dashboard = read_file(fs::path(MESHFED_SOURCE_DIR) / "docs/grafana/meshfed.json");
  ASSERT_FALSE(json::parse(dashboard, nullptr, false).is_discarded());
  const std::string rules = read_file(fs::path(MESHFED_SOURCE_DIR) / "docs/prometheus/meshfed-alerts.yml") + dashboard;
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  ASSERT_NE(wait_for_route(id), 0);  // gateway series exist once a connection went through
  std::set<std::string> names;
  for (size_t at = rules.find("meshfed_"); at != std::string::npos; at = rules.find("meshfed_", at + 1)) {
    size_t end = at;
    while (end < rules.size() && (std::isalnum(static_cast<unsigned char>(rules[end])) || rules[end] == '_')) ++end;
    names.insert(rules.substr(at, end - at));
    at = end;
  }
  ASSERT_GE(names.size(), 4u);
  std::string missing;
  const bool all = wait_until([&] {
    const std::string exposed = fed_->admin("pci")->request("GET", "/metrics")->body;
    missing.clear();
    for (const auto& n : names) {
      // A series, or a declared family; a histogram's _bucket, _sum and _count belong to its
      // family even before it has observed anything.
      std::string family = n;
      for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
        if (family.size() > suffix.size() &&
            family.compare(family.size() - suffix.size(), suffix.size(), suffix) == 0) {
          family.resize(family.size() - suffix.size());
          break;
        }
      }
      if (exposed.find("\n" + n + "{") == std::string::npos && exposed.find("# TYPE " + n + " ") == std::string::npos &&
          exposed.find("# TYPE " + family + " histogram") == std::string::npos) {
        missing += n + " ";
      }
    }
    return missing.empty();
  });
  EXPECT_TRUE(all) << "not on /metrics: " << missing;
}

TEST_F(GatewayTest, IngressRefusesWhatIsNotApprovedForTheCaller) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  ASSERT_NE(wait_for_route(id), 0);
  const uint16_t ingress = fed_->ingress_port("pci");
  const fs::path internal_pki = fed_->domain("internal").dir / "pki";
  const std::string sni = id + ".pci.meshfed";

  // The genuine caller gets through (the probe's own check).
  const auto ok = tls_probe(ingress, internal_pki / "egress.pem", internal_pki / "egress-key.pem", sni);
  EXPECT_TRUE(ok.handshake_ok) << ok.error;
  EXPECT_EQ(ok.echoed, "ping");

  // A wrong SNI, or no SNI.
  EXPECT_EQ(tls_probe(ingress, internal_pki / "egress.pem", internal_pki / "egress-key.pem", "nope.pci.meshfed").echoed,
            "");
  EXPECT_EQ(tls_probe(ingress, internal_pki / "egress.pem", internal_pki / "egress-key.pem", "").echoed, "");
  // The broker's certificate instead of the egress one.
  const auto broker = tls_probe(ingress, internal_pki / "broker.pem", internal_pki / "broker-key.pem", sni);
  EXPECT_EQ(broker.echoed, "");
  // A certificate that claims internal's egress identity under another CA.
  TempDir other;
  ASSERT_EQ(run_meshfed({"pki", "init", "--domain", "internal", "--out", other.path().string()}).exit_code, 0);
  EXPECT_EQ(tls_probe(ingress, other / "egress.pem", other / "egress-key.pem", sni).echoed, "");
  // No certificate at all.
  EXPECT_EQ(tls_probe(ingress, "", "", sni).echoed, "");
  // Plain TCP.
  const int fd = connect_loopback(ingress);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET / HTTP/1.1\r\n\r\n");
  const std::string plain = read_until_eof(fd, 10s);
  ::close(fd);
  EXPECT_EQ(plain.find("GET"), std::string::npos);

  // An export approved for dmz only.
  const std::string dmz_only = approve_export("payments-api", echo_.port(), {"dmz"}, {{"alias", "payments-dmz"}});
  // dmz, whom it is for, gets through; internal, with the same SNI, does not.
  const fs::path dmz_pki = fed_->domain("dmz").dir / "pki";
  EXPECT_TRUE(wait_until([&] {
    return tls_probe(ingress, dmz_pki / "egress.pem", dmz_pki / "egress-key.pem", dmz_only + ".pci.meshfed").echoed ==
           "ping";
  }));

  const auto not_scoped =
      tls_probe(ingress, internal_pki / "egress.pem", internal_pki / "egress-key.pem", dmz_only + ".pci.meshfed");
  EXPECT_TRUE(not_scoped.handshake_ok);
  EXPECT_EQ(not_scoped.echoed, "");

  // A revoked export.
  const std::string revoked = approve_export("payments-api", echo_.port(), {"internal"}, {{"alias", "payments-two"}});
  ASSERT_NE(wait_for_route(revoked), 0);
  ASSERT_EQ(call("pci", "POST", "/api/v1/exports/" + revoked + "/revoke", "bob", json{{"comment", "done"}}).status,
            200);
  EXPECT_TRUE(wait_until([&] {
    return tls_probe(ingress, internal_pki / "egress.pem", internal_pki / "egress-key.pem", revoked + ".pci.meshfed")
        .echoed.empty();
  }));

  EXPECT_GE(metric("pci", "meshfed_gateway_refusals_total{gateway=\"ingress\",reason=\"unknown_sni\"}"), 2);
  EXPECT_GE(metric("pci", "meshfed_gateway_refusals_total{gateway=\"ingress\",reason=\"no_sni\"}"), 1);
  EXPECT_GE(metric("pci", "meshfed_gateway_refusals_total{gateway=\"ingress\",reason=\"not_scoped_to_caller\"}"), 1);
  EXPECT_GE(
      metric("pci",
             "meshfed_gateway_handshake_failures_total{gateway=\"ingress\",reason=\"certificate verify failed\"}"),
      2);
  EXPECT_GE(
      metric(
          "pci",
          "meshfed_gateway_handshake_failures_total{gateway=\"ingress\",reason=\"peer did not return a certificate\"}"),
      1);
}

// Every certificate an impostor could bring, at both mutually authenticated listeners: the
// peer API must admit exactly internal's broker identity, the ingress exactly its egress one.
TEST_F(GatewayTest, ImpostorMatrixAtThePeerApiAndTheIngress) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  ASSERT_NE(wait_for_route(id), 0);
  const std::string sni = id + ".pci.meshfed";
  const fs::path d = fed_->dir();
  TempDir stranger;
  ASSERT_EQ(run_meshfed({"pki", "init", "--domain", "internal", "--out", stranger.path().string()}).exit_code, 0);
  struct Credential {
    std::string name;
    fs::path cert, key;
    bool peer_api, ingress;  // admitted there
  };
  auto forge = [&](const fs::path& ca_dir, const std::string& name, pki::CustomLeaf leaf) {
    EXPECT_TRUE(pki::issue_custom_leaf(ca_dir, leaf, d / (name + ".pem"), d / (name + "-key.pem")).ok()) << name;
    return std::make_pair(d / (name + ".pem"), d / (name + "-key.pem"));
  };
  const std::string broker_id = "spiffe://internal/meshfed/broker", egress_id = "spiffe://internal/meshfed/egress";
  auto leaf = [](std::vector<std::string> uris) {
    pki::CustomLeaf l;
    l.uris = std::move(uris);
    return l;
  };
  std::vector<Credential> matrix = {
      {"genuine broker", d / "internal/pki/broker.pem", d / "internal/pki/broker-key.pem", true, false},
      {"genuine egress", d / "internal/pki/egress.pem", d / "internal/pki/egress-key.pem", false, true},
      {"ingress role", d / "internal/pki/ingress.pem", d / "internal/pki/ingress-key.pem", false, false},
      {"no certificate", "", "", false, false},
      {"unknown CA", stranger / "broker.pem", stranger / "broker-key.pem", false, false},
      {"unknown CA egress", stranger / "egress.pem", stranger / "egress-key.pem", false, false},
  };
  auto add = [&](const std::string& name, const fs::path& ca, pki::CustomLeaf l) {
    auto [cert, key] = forge(ca, name, std::move(l));
    matrix.push_back({name, cert, key, false, false});
  };
  for (const auto& [role_id, role] : {std::pair{broker_id, "broker"}, std::pair{egress_id, "egress"}}) {
    add(std::string("another peer's CA as ") + role, d / "dmz/pki", leaf({role_id}));
    add(std::string("our own CA as ") + role, d / "pci/pki", leaf({role_id}));
    add(std::string("two URI SANs as ") + role, d / "internal/pki",
        leaf({role_id, std::string("spiffe://dmz/meshfed/") + role}));
    pki::CustomLeaf expired = leaf({role_id});
    expired.not_before = std::chrono::hours(-2);
    expired.not_after = std::chrono::hours(-1);
    add(std::string("expired ") + role, d / "internal/pki", expired);
    pki::CustomLeaf early = leaf({role_id});
    early.not_before = std::chrono::hours(1);
    early.not_after = std::chrono::hours(2);
    add(std::string("not yet valid ") + role, d / "internal/pki", early);
    pki::CustomLeaf server_only = leaf({role_id});
    server_only.extended_key_usage = "serverAuth";
    add(std::string("server-only EKU as ") + role, d / "internal/pki", server_only);
  }
  const uint16_t peer_port = fed_->peer_api_port("pci");
  const uint16_t ingress = fed_->ingress_port("pci");
  for (const auto& c : matrix) {
    http::ClientOptions o = http::ClientOptions::verifying("127.0.0.1", peer_port, d / "pci/pki/ca.pem");
    o.cert_file = c.cert;
    o.key_file = c.key;
    auto client = http::HttpsClient::create(o);
    ASSERT_TRUE(client.ok()) << c.name << ": " << client.error().message;
    auto r = (*client)->request("GET", "/federation/v1/catalog");
    EXPECT_EQ(r.ok() && r->status == 200, c.peer_api) << c.name << " at the peer API";
    EXPECT_EQ(tls_probe(ingress, c.cert, c.key, sni).echoed == "ping", c.ingress) << c.name << " at the ingress";
  }

  // Every bad SNI, with the genuine egress certificate.
  const std::string pending = [&] {
    auto r = call("pci", "POST", "/api/v1/exports", "alice",
                  json{{"mesh", "default"},
                       {"service", "payments-api"},
                       {"port", echo_.port()},
                       {"peers", {"internal"}},
                       {"reason", "x"},
                       {"alias", "payments-pending"}});
    return r.body.value("id", "");
  }();
  const std::string for_dmz = approve_export("payments-api", echo_.port(), {"dmz"}, {{"alias", "payments-dmz"}});
  const std::string revoked = approve_export("payments-api", echo_.port(), {"internal"}, {{"alias", "payments-gone"}});
  ASSERT_EQ(call("pci", "POST", "/api/v1/exports/" + revoked + "/revoke", "bob").status, 200);
  std::string upper = sni;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const fs::path egress = d / "internal/pki/egress.pem", egress_key = d / "internal/pki/egress-key.pem";
  // The route table follows the revocation asynchronously; wait until it is gone, then check all.
  EXPECT_TRUE(
      wait_until([&] { return tls_probe(ingress, egress, egress_key, revoked + ".pci.meshfed").echoed.empty(); }));
  for (const auto& bad :
       {std::string(), std::string("nope.pci.meshfed"), for_dmz + ".pci.meshfed", revoked + ".pci.meshfed",
        pending + ".pci.meshfed", upper, sni + ".", id + ".dmz.meshfed", id + ".pci.meshfed.evil"}) {
    EXPECT_EQ(tls_probe(ingress, egress, egress_key, bad).echoed, "") << "SNI \"" << bad << "\"";
  }
  EXPECT_EQ(tls_probe(ingress, egress, egress_key, sni).echoed, "ping");  // and the real one still works
}

TEST_F(GatewayTest, RevocationEndsALiveConnectionWithinASecond) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  const uint16_t port = wait_for_route(id);
  const int fd = connect_loopback(port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "still there?"));
  char buf[64];
  ASSERT_EQ(::recv(fd, buf, 12, MSG_WAITALL), 12);  // the connection is live end to end

  const auto revoked_at = std::chrono::steady_clock::now();
  ASSERT_EQ(call("pci", "POST", "/api/v1/exports/" + id + "/revoke", "bob", json{{"comment", "incident"}}).status, 200);
  bool clean = false;
  read_until_eof(fd, 10s, &clean);
  const auto took = std::chrono::steady_clock::now() - revoked_at;
  ::close(fd);
  EXPECT_TRUE(clean) << "the connection was not ended";
  std::cout << "revocation ended the live connection after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  // Whichever side learns first cuts: pci's ingress, or internal's egress once the import is withdrawn.
  const std::string cut = "meshfed_gateway_connections_cut_total{gateway=\"";
  EXPECT_GE(metric("pci", cut + "ingress\",reason=\"route_withdrawn\"}") +
                metric("internal", cut + "egress\",reason=\"route_withdrawn\"}"),
            1);
}

TEST_F(GatewayTest, ProxyProtocolTellsTheServiceWhoCalls) {
  const std::string id = approve_export("ledger", proxy_echo_.port(), {"internal"}, {{"proxy_protocol", true}});
  const uint16_t port = wait_for_route(id);
  ASSERT_NE(port, 0);
  const auto headers = proxy_echo_.headers();
  ASSERT_FALSE(headers.empty());
  const auto& h = headers.back();
  EXPECT_EQ(h.tlvs.at(0xE0), "internal");
  EXPECT_EQ(h.tlvs.at(0xE1), "spiffe://internal/meshfed/egress");
  EXPECT_EQ(h.destination, "127.0.0.1:" + std::to_string(fed_->ingress_port("pci")));
  EXPECT_EQ(h.source.rfind("127.0.0.1:", 0), 0u);
}

TEST_F(GatewayTest, AClientStreamThatBringsItsOwnProxyHeaderIsRefused) {
  const std::string id = approve_export("ledger", proxy_echo_.port(), {"internal"}, {{"proxy_protocol", true}});
  const uint16_t port = wait_for_route(id);
  ASSERT_NE(port, 0);
  const std::string forged_v2 =
      *gateway::proxy_v2_header({"10.9.9.9", 1}, {"10.0.0.1", 2}, "pci", "spiffe://pci/meshfed/egress");
  const std::string forged_v1 = "PROXY TCP4 10.9.9.9 10.0.0.1 1 2\r\n";
  for (const std::string& forged : {forged_v2, forged_v1}) {
    EXPECT_EQ(echo_round_trip(port, forged + "payload"), "") << "nothing reaches the service, nothing comes back";
  }
  // Sent in two writes (one read or two at the egress), the signature is still seen: the
  // first bytes are held until they are decided (ProxyProtocol unit tests cover each prefix).
  const int fd = connect_loopback(port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "PRO"));
  ASSERT_TRUE(send_all(fd, "XY TCP4 10.9.9.9 10.0.0.1 1 2\r\n"));
  EXPECT_EQ(read_until_eof(fd, std::chrono::seconds(10)), "");
  ::close(fd);
  EXPECT_EQ(metric("internal", "meshfed_gateway_refusals_total{gateway=\"egress\",reason=\"proxy_header\"}"), 3);
  // A stream that only starts like one (PRIVMSG, or a lone "PR" then the end) passes untouched.
  const std::string h = "PRIVMSG #ops :hello\r\n";
  EXPECT_EQ(echo_round_trip(port, h), h);
  EXPECT_EQ(echo_round_trip(port, "PR"), "PR");
  // A compromised egress that sends one through its tunnel meets the ingress's own refusal.
  const auto& internal = fed_->domain("internal").dir;
  const auto probe = tls_probe(fed_->ingress_port("pci"), internal / "pki/egress.pem", internal / "pki/egress-key.pem",
                               id + ".pci.meshfed", forged_v1 + "payload");
  EXPECT_TRUE(probe.handshake_ok) << probe.error;
  EXPECT_EQ(probe.echoed, "");
  EXPECT_EQ(metric("pci", "meshfed_gateway_refusals_total{gateway=\"ingress\",reason=\"proxy_header\"}"), 1);
}

TEST_F(GatewayTest, QuarantineClosesThePeersConnections) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  const uint16_t port = wait_for_route(id);
  const int fd = live_connection(port);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(call("pci", "POST", "/api/v1/peers/internal/quarantine", "root", json{{"reason", "incident"}}).status, 200);
  bool clean = false;
  read_until_eof(fd, 10s, &clean);
  ::close(fd);
  EXPECT_TRUE(clean);
  const auto probe = tls_probe(fed_->ingress_port("pci"), fed_->domain("internal").dir / "pki/egress.pem",
                               fed_->domain("internal").dir / "pki/egress-key.pem", id + ".pci.meshfed");
  EXPECT_EQ(probe.echoed, "");
}

TEST_F(GatewayTest, ReplacingAPeersCaEndsWhatTheOldTrustAdmitted) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  const uint16_t port = wait_for_route(id);
  const int fd = live_connection(port);
  ASSERT_GE(fd, 0);
  // pci now trusts another CA for internal: internal's live ingress connection and its
  // watcher's connection to pci's peer API were admitted by the old one, and end.
  const fs::path other = fed_->dir() / "other-ca";
  ASSERT_EQ(run_meshfed({"pki", "init", "--domain", "internal", "--out", other.string()}).exit_code, 0);
  auto& pci = fed_->domain("pci");
  pci.config["peers"][0]["ca_file"] = (other / "ca.pem").string();
  pci.save_config();
  fed_->broker("pci").signal(SIGHUP);
  bool clean = false;
  read_until_eof(fd, 10s, &clean);
  ::close(fd);
  EXPECT_TRUE(wait_until([&] {
    return metric("pci", "meshfed_gateway_connections_cut_total{gateway=\"ingress\",reason=\"peer_trust_changed\"}") >=
           1;
  })) << fed_->broker("pci").log();
  EXPECT_TRUE(wait_until([&] { return fed_->broker("pci").log().find("no longer trusted") != std::string::npos; }))
      << fed_->broker("pci").log();
}

TEST_F(GatewayTest, RepeatedConnectionsResumeTlsSessions) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  const uint16_t port = wait_for_route(id);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(echo_round_trip(port, "again"), "again");
  EXPECT_GE(metric("internal", "meshfed_gateway_handshakes_total{gateway=\"egress\",resumed=\"true\"}"), 4);
  EXPECT_GE(metric("pci", "meshfed_gateway_handshakes_total{gateway=\"ingress\",resumed=\"true\"}"), 4);
}

TEST_F(GatewayTest, CertificatesReloadOnSighupWithoutDroppingConnections) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  const uint16_t port = wait_for_route(id);
  const int fd = connect_loopback(port);
  ASSERT_TRUE(send_all(fd, "before"));
  char buf[16];
  ASSERT_EQ(::recv(fd, buf, 6, MSG_WAITALL), 6);

  const std::string expiry = "meshfed_certificate_expiry_timestamp_seconds{role=\"ingress\"}";
  const double old_expiry = metric("pci", expiry);
  const fs::path pki = fed_->domain("pci").dir / "pki";
  ASSERT_EQ(
      run_meshfed({"pki", "issue", "--ca-dir", pki.string(), "--role", "ingress", "--ip", "127.0.0.1", "--days", "3"})
          .exit_code,
      0);
  fed_->broker("pci").signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return metric("pci", expiry) != old_expiry; })) << fed_->broker("pci").log();
  EXPECT_LT(metric("pci", expiry), old_expiry);  // the 3-day certificate is in use

  ASSERT_TRUE(send_all(fd, "after"));  // the established connection carries on
  ASSERT_EQ(::recv(fd, buf, 5, MSG_WAITALL), 5);
  EXPECT_EQ(std::string(buf, 5), "after");
  ::close(fd);
  EXPECT_EQ(echo_round_trip(port, "new connection"), "new connection");
}

// The service never reads: the caller's bytes pile up in front of it.
TEST_F(GatewayTest, ASlowReaderDoesNotMakeTheGatewaysGrow) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "memory is measured in the build without sanitizers (ASan's allocator changes RSS)";
#else
  EchoServer sink(EchoServer::Mode::kNeverRead);
  point_inventory_at(sink.port(), proxy_echo_.port());
  ASSERT_TRUE(wait_until([&] {
    auto r = call("pci", "GET", "/api/v1/services", "victor");
    return r.status == 200 && r.body["items"][0]["ports"][0]["port"] == sink.port();
  }));
  const std::string id = approve_export("payments-api", sink.port(), {"internal"});
  uint16_t port = 0;
  ASSERT_TRUE(wait_until([&] {
    auto r = call("internal", "GET", "/api/v1/imports/pci." + id, "victor");
    if (r.status != 200 || r.body["state"] != "active" || r.body["local"].is_null()) return false;
    port = r.body["local"]["port"];
    const int probe = connect_loopback(port);
    if (probe >= 0) ::close(probe);
    return probe >= 0 && sink.connections() > 0;
  }));
  const long before = rss_kib(fed_->broker("internal").pid()) + rss_kib(fed_->broker("pci").pid());

  const int fd = connect_loopback(port);
  ASSERT_GE(fd, 0);
  const std::string chunk(1 << 20, 'x');
  size_t sent = 0;
  // Push until nothing moves for 2 seconds: every buffer on the way is full.
  for (;;) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 2000) <= 0) break;
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  const long after = rss_kib(fed_->broker("internal").pid()) + rss_kib(fed_->broker("pci").pid());
  ::close(fd);
  std::cout << "pushed " << sent / (1024 * 1024)
            << " MiB at a service that does not read; the two brokers' RSS went from " << before << " KiB to " << after
            << " KiB\n";
  EXPECT_GT(sent, 4u << 20);             // the gateways did take bytes in...
  EXPECT_LT(after - before, 16 * 1024);  // ...and held no more than their buffers
#endif
}

class IdleGatewayTest : public GatewayTest {
  void configure() override {
    auto& pci = fed_->domain("pci");
    pci.config["gateways"]["ingress"]["idle_timeout_s"] = 1;
    pci.config["gateways"]["ingress"]["connect_timeout_s"] = 1;
    pci.save_config();
  }
};

// A target whose accept queue is full: the kernel drops further SYNs, so a connect hangs.
class UnansweringTarget {
 public:
  UnansweringTarget() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 4; ++i) {  // never accepted: they fill the queue
      const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(c);
    }
  }
  ~UnansweringTarget() {
    for (int c : fillers_) ::close(c);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> fillers_;
};

TEST_F(IdleGatewayTest, AnUnansweringTargetTimesOutAndIsCounted) {
  UnansweringTarget target;
  point_inventory_at(echo_.port(), target.port());  // ledger now leads nowhere
  ASSERT_TRUE(wait_until([&] {
    auto r = call("pci", "GET", "/api/v1/services", "victor");
    return r.status == 200 && r.body["items"][1]["ports"][0]["port"] == target.port();
  }));
  const std::string id = approve_export("ledger", target.port(), {"internal"});
  uint16_t port = 0;
  ASSERT_TRUE(wait_until([&] {
    auto r = call("internal", "GET", "/api/v1/imports/pci." + id, "victor");
    if (r.status != 200 || r.body["state"] != "active" || r.body["local"].is_null()) return false;
    port = r.body["local"]["port"];
    const int fd = connect_loopback(port);  // the egress listener is open
    if (fd >= 0) ::close(fd);
    return fd >= 0;
  }));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(echo_round_trip(port, "anyone?"), "") << fed_->broker("internal").log();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);  // well before the client's own 60 s
  EXPECT_GE(metric("pci", "meshfed_gateway_upstream_connect_failures_total{gateway=\"ingress\",route=\"" + id + "\"}"),
            1)
      << fed_->broker("pci").log();
}

TEST_F(IdleGatewayTest, IdleConnectionsAreCut) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  const uint16_t port = wait_for_route(id);
  const int fd = live_connection(port);
  ASSERT_GE(fd, 0);
  bool clean = false;
  read_until_eof(fd, 10s, &clean);
  ::close(fd);
  EXPECT_TRUE(clean);
  EXPECT_GE(metric("pci", "meshfed_gateway_connections_cut_total{gateway=\"ingress\",reason=\"idle\"}"), 1);
}

class LimitedGatewayTest : public GatewayTest {
  void configure() override {
    auto& pci = fed_->domain("pci");
    pci.config["gateways"]["ingress"]["max_connections"] = 2;
    pci.config["gateways"]["ingress"]["max_connections_per_source"] = 1;
    pci.config["gateways"]["ingress"]["handshake_timeout_s"] = 60;  // what closes early here is admission
    pci.save_config();
  }
};

// The ingress admits as the APIs do: a source holds one handshake here, strangers who never
// handshake make room for callers, and admitted connections are never evicted.
TEST_F(LimitedGatewayTest, StrangersMakeRoomForCallersAndConnectionsBeyondTheLimitAreRefused) {
  const std::string id = approve_export("payments-api", echo_.port(), {"internal"});
  ASSERT_NE(wait_for_route(id), 0);
  const fs::path pki = fed_->domain("internal").dir / "pki";
  const std::string sni = id + ".pci.meshfed";
  const uint16_t ingress = fed_->ingress_port("pci");
  // Admitted in the order they connect: each second one's refusal shows the first one is in.
  const int older_stranger = connect_from("127.0.0.8", ingress);
  const int second_from_there = connect_from("127.0.0.8", ingress);
  EXPECT_TRUE(closed_by_server(second_from_there, 5s)) << "one unauthenticated connection per source";
  const int newer_stranger = connect_from("127.0.0.9", ingress);
  const int second_from_the_other = connect_from("127.0.0.9", ingress);
  EXPECT_TRUE(closed_by_server(second_from_the_other, 5s));

  TlsHold first(ingress, pki / "egress.pem", pki / "egress-key.pem", sni);  // full: the older stranger goes
  EXPECT_TRUE(closed_by_server(older_stranger, 5s));
  TlsHold second(ingress, pki / "egress.pem", pki / "egress-key.pem", sni);  // and then the newer one
  EXPECT_TRUE(closed_by_server(newer_stranger, 5s));
  ASSERT_TRUE(first.echoed() && second.echoed());
  EXPECT_EQ(tls_probe(ingress, pki / "egress.pem", pki / "egress-key.pem", sni).echoed, "");
  EXPECT_FALSE(first.ended_within(200ms) || second.ended_within(200ms)) << "callers are never evicted";
  EXPECT_EQ(metric("pci", "meshfed_gateway_refusals_total{gateway=\"ingress\",reason=\"per_source\"}"), 2);
  EXPECT_GE(metric("pci", "meshfed_gateway_refusals_total{gateway=\"ingress\",reason=\"capacity\"}"), 1);
  for (int fd : {older_stranger, second_from_there, newer_stranger, second_from_the_other}) ::close(fd);
}

}  // namespace
}  // namespace meshfed::testing

namespace meshfed::testing {
namespace {

// The same traffic through gateways run as their own processes (`enabled: false`), following
// their brokers' route watch.
class SeparateGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fed_ = std::make_unique<Federation>(
        peered_through_api_
            ? std::map<std::string, std::vector<std::string>>{{"pci", {}}, {"internal", {}}}
            : std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}});
    if (peered_through_api_) {
      for (const std::string d : {"pci", "internal"}) fed_->advertise_peer_api(d);
    }
    const uint16_t ports = free_port_range(14);
    ingress_port_ = ports;
    ingress_metrics_port_ = static_cast<uint16_t>(ports + 1);
    auto& pci = fed_->domain("pci");
    pci.config["gateways"]["ingress"]["listen"] = "127.0.0.1:" + std::to_string(ingress_port_);
    pci.config["gateways"]["ingress"]["advertise"] = "127.0.0.1:" + std::to_string(ingress_port_);
    pci.save_config();
    auto& internal = fed_->domain("internal");
    first_egress_port_ = static_cast<uint16_t>(ports + 4);
    internal.config["gateways"]["egress"]["ports"] = std::to_string(ports + 4) + "-" + std::to_string(ports + 13);
    internal.save_config();
    internal_metrics_port_ = static_cast<uint16_t>(ports + 2);
    internal.serve_metrics_on(internal_metrics_port_);
    pci.offer_only("payments-api", echo_.port(), service_protocol_);
    fed_->start_all();
    if (peered_through_api_) {
      peer_through_api("pci", "internal");
      peer_through_api("internal", "pci");
    } else {
      fed_->connect();
    }
    ingress_pid_ = start_gateway("pci", "ingress", "127.0.0.1:" + std::to_string(ingress_metrics_port_));
    egress_pid_ = start_gateway("internal", "egress", "");
  }

  void TearDown() override {
    for (int pid : {ingress_pid_, egress_pid_}) {
      if (pid > 0) stop_process(pid);
    }
  }

  int start_gateway(const std::string& d, const std::string& role, const std::string& metrics_listen) {
    auto& fx = fed_->domain(d);
    write_file(fx.dir / "gateway-token", fx.tokens.at("gw") + "\n");
    std::vector<std::string> args = {"--log-level",
                                     "debug",
                                     "gateway",
                                     "--role",
                                     role,
                                     "--config",
                                     fx.config_file.string(),
                                     "--broker",
                                     "https://127.0.0.1:" + std::to_string(fed_->broker(d).admin_port()),
                                     "--token-file",
                                     (fx.dir / "gateway-token").string()};
    if (!metrics_listen.empty()) args.insert(args.end(), {"--metrics-listen", metrics_listen});
    return spawn_meshfed(args, fx.dir / (role + ".log"));
  }

  // `d` adds `other` by its bundle through the admin API: root proposes, ada approves.
  void peer_through_api(const std::string& d, const std::string& other) {
    const json bundle = call(other, "GET", "/api/v1/peering/bundle", "victor").body;
    ASSERT_EQ(call(d, "POST", "/api/v1/peers", "root",
                   json{{"bundle", bundle["bundle"]},
                        {"fingerprint", bundle["fingerprint"]},
                        {"import_policy", "auto"},
                        {"reason", "separate gateways"}})
                  .status,
              201);
    ASSERT_EQ(call(d, "POST", "/api/v1/peers/" + other + "/approve", "ada").status, 200);
  }

  std::string log(const std::string& d, const std::string& role) {
    return read_file(fed_->domain(d).dir / (role + ".log"));
  }

  ApiResult call(const std::string& d, const std::string& method, const std::string& target, const std::string& who,
                 const std::optional<json>& body = std::nullopt) {
    auto c = fed_->admin(d);
    return api_call(*c, method, target, fed_->domain(d).tokens.at(who), body);
  }

  std::string approve(const json& extra = json::object()) {
    json body = {{"mesh", "default"},
                 {"service", "payments-api"},
                 {"port", echo_.port()},
                 {"peers", {"internal"}},
                 {"reason", "checkout"}};
    body.update(extra);
    auto r = call("pci", "POST", "/api/v1/exports", "alice", body);
    EXPECT_EQ(r.status, 201) << r.body.dump();
    const std::string id = r.body.value("id", "");
    EXPECT_EQ(call("pci", "POST", "/api/v1/exports/" + id + "/approve", "bob").status, 200);
    return id;
  }

  uint16_t egress_port_of(const std::string& id) {
    auto r = call("internal", "GET", "/api/v1/imports/pci." + id, "victor");
    return r.status == 200 && r.body["local"].is_object() ? r.body["local"]["port"].get<uint16_t>() : 0;
  }

  // The egress port of `id` once bytes cross both gateway processes; 0 if they never do.
  uint16_t flowing_port(const std::string& id) {
    uint16_t port = 0;
    const bool flows = wait_until([&] {
      port = egress_port_of(id);
      return port && echo_round_trip(port, "via processes") == "via processes";
    });
    EXPECT_TRUE(flows) << log("internal", "egress") << log("pci", "ingress");
    return flows ? port : 0;
  }

  std::string scrape_ingress() {
    auto r = plain_get(ingress_metrics_port_, "/metrics");
    return r && r->status == 200 ? r->body : "";
  }

  bool peered_through_api_ = false;  // no peers[] in either file: peering through the admin API
  std::string service_protocol_ = "tcp";
  EchoServer echo_;
  std::unique_ptr<Federation> fed_;
  uint16_t first_egress_port_ = 0;
  uint16_t ingress_port_ = 0;
  uint16_t ingress_metrics_port_ = 0;
  uint16_t internal_metrics_port_ = 0;  // internal's /metrics and /federate
  int ingress_pid_ = -1;
  int egress_pid_ = -1;
};

TEST_F(SeparateGatewayTest, TrafficFlowsAndTheIngressEnforcesExpiryWhileItsBrokerIsAway) {
  const std::string id = approve({{"ttl_s", 6}});
  const uint16_t port = flowing_port(id);
  ASSERT_NE(port, 0);
  EXPECT_NE(scrape_ingress().find("meshfed_gateway_connections_total{gateway=\"ingress\",route=\"" + id +
                                  "\",peer=\"internal\"}"),
            std::string::npos);

  // pci's broker goes away; its ingress keeps the last routing table...
  const fs::path internal_pki = fed_->domain("internal").dir / "pki";
  TlsHold live(ingress_port_, internal_pki / "egress.pem", internal_pki / "egress-key.pem", id + ".pci.meshfed");
  ASSERT_TRUE(live.echoed());
  fed_->broker("pci").stop();
  const auto served =
      tls_probe(ingress_port_, internal_pki / "egress.pem", internal_pki / "egress-key.pem", id + ".pci.meshfed");
  EXPECT_EQ(served.echoed, "ping") << log("pci", "ingress");
  // ...and ends the export's connections itself when it expires.
  EXPECT_TRUE(live.ended_within(std::chrono::seconds(15)));
  EXPECT_EQ(tls_probe(ingress_port_, internal_pki / "egress.pem", internal_pki / "egress-key.pem", id + ".pci.meshfed")
                .echoed,
            "");
  const std::string metrics = scrape_ingress();
  EXPECT_NE(metrics.find("meshfed_gateway_connections_cut_total{gateway=\"ingress\",reason=\"expired\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(promtool_check_metrics(metrics), "");
}

// An export narrowed by L7 rules, enforced by pci's ingress running as its own process: the
// caller's denials, counted there, reach the calling team's /federate through pci's broker.
class SeparateGatewayL7Test : public SeparateGatewayTest {
 protected:
  SeparateGatewayL7Test() { service_protocol_ = "http"; }
};

TEST_F(SeparateGatewayL7Test, DenialsAtASeparateIngressReachTheCallersFederate) {
  const std::string id =
      approve({{"l7", json::parse(R"({"http": [{"methods": ["GET"], "path": {"prefix": "/v1/rates/"}}]})")}});
  // Outside the rules: answered by pci's ingress (what reaches the service is L7Test's).
  auto denied = [&](uint16_t port) {
    const int fd = connect_loopback(port);
    std::string buffered;
    const bool sent = fd >= 0 && send_all(fd, "DELETE /v1/rates/eur HTTP/1.1\r\nHost: rates\r\n\r\n");
    const auto answer = sent ? read_answer(fd, buffered) : std::nullopt;
    if (fd >= 0) ::close(fd);
    return answer && answer->status == 403;
  };
  int denials = 0;
  ASSERT_TRUE(wait_until([&] {
    const uint16_t port = egress_port_of(id);
    if (port && denied(port)) ++denials;
    return denials == 1;
  })) << log("internal", "egress")
      << log("pci", "ingress");
  ASSERT_TRUE(denied(egress_port_of(id)));
  ++denials;
  const std::string federated = "meshfed_gateway_l7_denied_total{export=\"" + id +
                                "\",peer=\"internal\",meshfed_source_domain=\"pci\"} " + std::to_string(denials);
  std::string last;
  EXPECT_TRUE(wait_until([&] {
    auto r = plain_get(internal_metrics_port_, "/federate");
    last = r && r->status == 200 ? r->body : "";
    return last.find(federated) != std::string::npos;
  })) << last
      << log("pci", "ingress");
}

// Gateways run as their own processes read peers from the config file, which names none here:
// the peers added through the admin API reach them with their routes, CAs included, and
// leave with them.
class SeparateGatewayPeeringTest : public SeparateGatewayTest {
 protected:
  SeparateGatewayPeeringTest() { peered_through_api_ = true; }
};

TEST_F(SeparateGatewayPeeringTest, PeersAddedThroughTheApiReachSeparateGatewaysAndLeaveWithTheirRoutes) {
  const std::string id = approve();
  const uint16_t port = flowing_port(id);
  ASSERT_NE(port, 0);
  const int live = live_connection(port);
  ASSERT_GE(live, 0);

  // pci removes internal: its ingress process no longer trusts internal's egress.
  ASSERT_EQ(call("pci", "DELETE", "/api/v1/peers/internal", "root", json{{"reason", "done"}}).status, 200);
  bool clean = false;
  read_until_eof(live, std::chrono::seconds(10), &clean);
  ::close(live);
  EXPECT_TRUE(clean) << log("pci", "ingress");
  const fs::path internal_pki = fed_->domain("internal").dir / "pki";
  EXPECT_TRUE(wait_until([&] {
    return tls_probe(ingress_port_, internal_pki / "egress.pem", internal_pki / "egress-key.pem", id + ".pci.meshfed")
        .echoed.empty();
  }));
  // The trust is replaced before the line saying so is logged.
  EXPECT_TRUE(wait_until([&] {
    return log("pci", "ingress").find("peers added through the API changed: applied (0 peers") != std::string::npos;
  })) << log("pci", "ingress");
}

// A separate egress process that cannot listen on the port its broker gave an import (another
// program holds it) tells the broker, which moves the import to a port the egress can hold.
TEST_F(SeparateGatewayTest, AnEgressProcessThatCannotBindAPortHasTheImportMoved) {
  Squatter squatter(first_egress_port_);
  ASSERT_TRUE(squatter.held());
  const std::string id = approve();
  ASSERT_TRUE(wait_until([&] { return egress_port_of(id) == first_egress_port_ + 1; }))
      << log("internal", "egress") << fed_->broker("internal").log();
  EXPECT_TRUE(wait_until([&] { return echo_round_trip(first_egress_port_ + 1, "moved") == "moved"; }))
      << log("internal", "egress");
  EXPECT_NE(log("internal", "egress").find("cannot listen on 127.0.0.1:" + std::to_string(first_egress_port_)),
            std::string::npos);
}

// The broker publishes an import's egress port to the control plane only once the separate
// egress process says it listens there: with that process down, the import waits, says so, and
// /readyz is not ready; once it runs, the import is published and traffic flows.
TEST_F(SeparateGatewayTest, AnImportIsPublishedOnlyOnceTheEgressProcessHoldsItsPort) {
  // Once the egress process has followed the routes, the broker knows one runs...
  ASSERT_TRUE(wait_until([&] { return log("internal", "egress").find("routes: revision") != std::string::npos; }));
  stop_process(egress_pid_);  // ...and then it goes away
  egress_pid_ = -1;
  const std::string id = approve();
  ASSERT_TRUE(wait_until([&] {
    auto r = call("internal", "GET", "/api/v1/imports/pci." + id, "victor");
    return r.status == 200 && r.body["state"] == "active";
  }));
  const auto waiting = call("internal", "GET", "/api/v1/imports/pci." + id, "victor").body;
  EXPECT_TRUE(waiting["local"].is_null()) << waiting.dump();
  EXPECT_EQ(waiting["reason"],
            "waiting for the egress gateway to listen on port " + std::to_string(first_egress_port_));
  const fs::path file = fed_->domain("internal").dir / "imports" / ("meshfed-pci." + id + ".json");
  EXPECT_FALSE(fs::exists(file));
  const auto ready = call("internal", "GET", "/readyz", "victor");
  EXPECT_EQ(ready.status, 503) << ready.body.dump();
  EXPECT_EQ(ready.body["checks"]["egress"], "1 imports wait for the egress gateway to listen") << ready.body.dump();

  egress_pid_ = start_gateway("internal", "egress", "");
  ASSERT_TRUE(wait_until([&] { return egress_port_of(id) == first_egress_port_; })) << log("internal", "egress");
  EXPECT_TRUE(wait_until([&] { return fs::exists(file); }));
  EXPECT_EQ(json::parse(read_file(file))["spec"]["endpoints"][0]["port"], first_egress_port_);
  EXPECT_TRUE(wait_until([&] { return echo_round_trip(first_egress_port_, "held") == "held"; }));
  EXPECT_EQ(call("internal", "GET", "/readyz", "victor").status, 200);
}

TEST_F(SeparateGatewayTest, GatewayRefusesAConfigWhoseBrokerRunsItAlready) {
  auto& pci = fed_->domain("pci");
  json cfg = pci.config;
  cfg["gateways"]["ingress"]["enabled"] = true;
  write_file(pci.dir / "in-broker.json", cfg.dump());
  const auto r = run_meshfed({"gateway", "--role", "ingress", "--config", (pci.dir / "in-broker.json").string(),
                              "--broker", "https://127.0.0.1:1", "--token-file", (pci.dir / "gateway-token").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("gateways.ingress.enabled is true"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace meshfed::testing
