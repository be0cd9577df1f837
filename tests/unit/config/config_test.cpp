#include "meshfed/config/config.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

namespace meshfed::config {
namespace {

const char* kMinimal = R"({
  "domain": "pci",
  "state_dir": "/var/lib/meshfed/pci",
  "tls": {"ca_file": "pki/ca.pem", "cert_file": "pki/broker.pem", "key_file": "pki/broker-key.pem"},
  "admin": {"listen": "127.0.0.1:9440", "tokens_file": "tokens.json"}
})";

std::set<std::string> fields_of(const Result<Config>& r) {
  std::set<std::string> out;
  for (const auto& f : r.error().fields) out.insert(f.field);
  return out;
}

std::string message_for(const Result<Config>& r, const std::string& field) {
  for (const auto& f : r.error().fields) {
    if (f.field == field) return f.message;
  }
  return "";
}

TEST(Config, EveryExampleConfigLoads) {
  for (const std::string d : {"dmz", "internal", "pci"}) {
    auto c = load_config(std::filesystem::path(MESHFED_SOURCE_DIR) / "config" / (d + ".json"));
    ASSERT_TRUE(c.ok()) << d << ": " << format_errors(c.error());
    EXPECT_EQ(c->domain, d);
    EXPECT_FALSE(c->peers.empty());
    EXPECT_TRUE(c->gateways.ingress.has_value());
  }
}

TEST(Config, TheMinimalExampleLoads) {
  auto c = load_config(std::filesystem::path(MESHFED_SOURCE_DIR) / "config" / "minimal.json");
  ASSERT_TRUE(c.ok()) << format_errors(c.error());
  EXPECT_TRUE(c->peers.empty()) << "peers are added by peering (docs/getting-started.md)";
  EXPECT_TRUE(c->gateways.egress.has_value());
}

TEST(Config, MinimalConfigGetsDefaultsAndRelativePaths) {
  auto c = parse_config(kMinimal, "/etc/meshfed");
  ASSERT_TRUE(c.ok()) << format_errors(c.error());
  EXPECT_EQ(c->trust_domain, "pci");
  EXPECT_EQ(c->tls.ca_file, "/etc/meshfed/pki/ca.pem");
  EXPECT_EQ(c->state_dir, "/var/lib/meshfed/pci");
  EXPECT_EQ(c->exports.default_ttl, std::chrono::seconds(2592000));
  EXPECT_EQ(c->exports.max_ttl, std::chrono::seconds(7776000));
  EXPECT_EQ(c->control_plane.type, ControlPlaneType::kStatic);
  EXPECT_EQ(c->control_plane.static_cp.inventory_file, "/etc/meshfed/inventory.json");
  EXPECT_EQ(c->sync.stale_after, std::chrono::seconds(60));
  EXPECT_FALSE(c->gateways.egress.has_value());
}

TEST(Config, BadListenNamesKeyPathAndValue) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["admin"]["listen"] = "9440";
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_FALSE(c.ok());
  const auto msg = message_for(c, "admin.listen");
  EXPECT_NE(msg.find("expected host:port"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"9440\""), std::string::npos) << msg;
}

TEST(Config, APortOutOfRangeIsSaidSo) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["admin"]["listen"] = "127.0.0.1:99999";
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(message_for(c, "admin.listen"), "port 99999 is out of range 1-65535 in \"127.0.0.1:99999\"");
}

TEST(Config, AnUnknownKeyGetsTheNearestKnownOne) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["admin"]["tokens_fle"] = "t";
  j["stat_dir"] = "/x";
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(message_for(c, "admin.tokens_fle"), "unknown key; did you mean \"tokens_file\"?");
  EXPECT_EQ(message_for(c, "stat_dir"), "unknown key; did you mean \"state_dir\"?");
  j.erase("stat_dir");
  j["admin"].erase("tokens_fle");
  j["zzzzzzzz"] = 1;  // nothing near: no suggestion
  EXPECT_EQ(message_for(parse_config(j.dump(), "/etc"), "zzzzzzzz"), "unknown key");
}

TEST(Config, AMissingConfigFileNamesTheOsReason) {
  auto c = load_config("/nonexistent/pci.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "cannot read config file /nonexistent/pci.json: No such file or directory");
}

TEST(Config, ReportsAllErrorsAtOnce) {
  auto c = parse_config(R"({
    "domain": "PCI_zone",
    "state_dir": 7,
    "tls": {"ca_file": "a", "cert_file": "b"},
    "admin": {"listen": "127.0.0.1:9440", "tokens_file": "t", "extra": 1},
    "exports": {"default_ttl_s": 100, "max_ttl_s": 10},
    "surprise": true
  })",
                        "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(fields_of(c), (std::set<std::string>{"domain", "state_dir", "tls.key_file", "admin.extra",
                                                 "exports.default_ttl_s", "surprise"}));
}

TEST(Config, MissingRequiredSections) {
  auto c = parse_config(R"({"domain": "pci"})", "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(fields_of(c), (std::set<std::string>{"state_dir", "tls", "admin"}));
}

TEST(Config, PeersMustBeUniqueAndNeverOurselves) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["peers"] = {{{"domain", "internal"}, {"url", "https://b.internal:9443"}, {"ca_file", "peers/internal.pem"}},
                {{"domain", "internal"}, {"url", "https://b2.internal:9443"}, {"ca_file", "peers/i2.pem"}},
                {{"domain", "pci"}, {"url", "http://x:1"}, {"ca_file", "pki/ca.pem"}, {"import_policy", "sometimes"}}};
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(message_for(c, "peers[1].domain").find("duplicate"), std::string::npos);
  EXPECT_NE(message_for(c, "peers[2].domain").find("own domain"), std::string::npos);
  EXPECT_NE(message_for(c, "peers[2].url").find("https://"), std::string::npos);
  EXPECT_NE(message_for(c, "peers[2].ca_file").find("not our own"), std::string::npos);
  EXPECT_NE(message_for(c, "peers[2].import_policy").find("manual"), std::string::npos);
}

TEST(Config, EgressPortRangeMustNotOverlapListeners) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["gateways"]["egress"] = {
      {"advertise_host", "egress.pci"}, {"ports", "9000-9999"}, {"cert_file", "e.pem"}, {"key_file", "e-key.pem"}};
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(message_for(c, "gateways.egress.ports").find("admin.listen"), std::string::npos);
}

TEST(Config, BadCidrsAndRanges) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["source_cidrs"] = {"10.0.0.0/24", "10.0.0.0/33", "nonsense"};
  j["gateways"]["egress"] = {{"advertise_host", "e"}, {"ports", "200-100"}, {"cert_file", "e"}, {"key_file", "k"}};
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(fields_of(c), (std::set<std::string>{"source_cidrs[1]", "source_cidrs[2]", "gateways.egress.ports"}));
}

TEST(Config, MetricsSourceRegexMustCompileAndHaveAGroup) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["metrics"]["sources"] = {{{"url", "http://127.0.0.1:9090/federate"}, {"service_regex", "([a-z]+"}},
                             {{"url", "http://127.0.0.1:9090/federate"}, {"service_regex", "[a-z]+"}},
                             {{"url", "http://127.0.0.1:9090/federate"}, {"service_regex", "[^_]+_([^_]+)_.*"}}};
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(fields_of(c),
            (std::set<std::string>{"metrics.sources[0].service_regex", "metrics.sources[1].service_regex"}));
  EXPECT_NE(message_for(c, "metrics.sources[0].service_regex").find("invalid regular expression \"([a-z]+\""),
            std::string::npos);
  EXPECT_EQ(message_for(c, "metrics.sources[1].service_regex"), "needs a group: its first group is the service name");
}

TEST(Config, GatewayLimitsAndAdvertisedPortZero) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["gateways"]["ingress"] = {{"listen", "127.0.0.1:0"}, {"advertise", "127.0.0.1:0"}, {"cert_file", "i.pem"},
                              {"key_file", "i-key.pem"}, {"idle_timeout_s", 30},       {"max_connections", 5}};
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_TRUE(c.ok()) << format_errors(c.error());
  EXPECT_EQ(c->gateways.ingress->tuning.idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c->gateways.ingress->tuning.max_connections, 5);
  EXPECT_EQ(c->gateways.ingress->tuning.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c->gateways.ingress->tuning.max_connections_per_source, 64) << "handshakes from one address";
  EXPECT_EQ(c->gateways.ingress->tuning.max_connections_per_peer, 0);

  // The egress's callers are this domain's own workloads, often many behind one address.
  j["gateways"]["egress"] = {
      {"ports", "20000-20010"}, {"advertise_host", "10.0.0.1"}, {"cert_file", "e.pem"}, {"key_file", "e-key.pem"}};
  c = parse_config(j.dump(), "/etc");
  ASSERT_TRUE(c.ok()) << format_errors(c.error());
  EXPECT_EQ(c->gateways.egress->tuning.max_connections_per_source, 1000);
  j["gateways"]["egress"]["max_connections_per_source"] = 0;
  j["gateways"]["ingress"]["max_connections_per_peer"] = 100;
  c = parse_config(j.dump(), "/etc");
  ASSERT_TRUE(c.ok()) << format_errors(c.error());
  EXPECT_EQ(c->gateways.egress->tuning.max_connections_per_source, 0) << "0: no cap";
  EXPECT_EQ(c->gateways.ingress->tuning.max_connections_per_peer, 100);
  j["gateways"].erase("egress");

  // Port 0 is only for an in-process ingress that listens on port 0 too; limits have ranges.
  j["gateways"]["ingress"]["enabled"] = false;
  j["gateways"]["ingress"]["max_connections"] = 0;
  j["gateways"]["ingress"]["handshake_timeout_s"] = "10";
  j["gateways"]["ingress"]["max_connections_per_source"] = -1;
  c = parse_config(j.dump(), "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(fields_of(c), (std::set<std::string>{"gateways.ingress.advertise", "gateways.ingress.max_connections",
                                                 "gateways.ingress.handshake_timeout_s",
                                                 "gateways.ingress.max_connections_per_source"}));
}

TEST(Config, LongPollMustBeShorterThanTheStaleThreshold) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["sync"] = {{"wait_s", 30}, {"stale_after_s", 20}, {"withdraw_after_s", 600}};
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(message_for(c, "sync.wait_s").find("stale_after_s"), std::string::npos);
}

TEST(Config, KumaControlPlaneKeysAccepted) {
  nlohmann::json j = nlohmann::json::parse(kMinimal);
  j["control_plane"] = {{"type", "kuma"},
                        {"url", "http://127.0.0.1:5681"},
                        {"token_file", "kuma-token"},
                        {"meshes", {"default", "payments"}},
                        {"import_mesh", "default"},
                        {"ingress_service", "meshfed-ingress"},
                        {"ingress_zone", "zone-1"},
                        {"poll_interval_s", 5}};
  auto c = parse_config(j.dump(), "/etc");
  ASSERT_TRUE(c.ok()) << format_errors(c.error());
  EXPECT_EQ(c->control_plane.type, ControlPlaneType::kKuma);
  EXPECT_EQ(c->control_plane.kuma.meshes.size(), 2u);
  EXPECT_EQ(c->control_plane.kuma.poll_interval, std::chrono::seconds(5));
}

TEST(Config, InvalidJsonIsOneClearError) {
  auto c = parse_config("{\"domain\": ", "/etc");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(format_errors(c.error()).find("not valid JSON"), std::string::npos);
  // A key given twice would silently take the last value: refused, naming the key.
  auto twice = parse_config(R"({"domain": "pci", "domain": "dmz"})", "/etc");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(format_errors(twice.error()).find("the key \"domain\" twice"), std::string::npos)
      << format_errors(twice.error());
}

TEST(Config, PeerLimitsHaveTheirDefaultsAndTheEgressRangeIsShared) {
  auto c =
      parse_config(R"({"domain": "pci", "state_dir": "s", "tls": {"ca_file": "c", "cert_file": "b", "key_file": "k"},
    "admin": {"tokens_file": "t"},
    "peers": [{"domain": "a", "url": "https://10.0.0.1:9443", "ca_file": "a.pem", "source_cidrs": ["10.0.0.0/24"]},
              {"domain": "b", "url": "https://10.0.1.1:9443", "ca_file": "b.pem", "max_exports": 5,
               "max_egress_ports": 7, "ingress_cidrs": ["10.9.0.0/16"]},
              {"domain": "c", "url": "https://10.0.2.1:9443", "ca_file": "c.pem"}],
    "gateways": {"egress": {"advertise_host": "e", "ports": "16000-16099", "cert_file": "e", "key_file": "ek"}}})",
                   "/etc");
  ASSERT_TRUE(c.ok()) << format_errors(c.error());
  EXPECT_EQ(c->peers[0].max_exports, 1000);
  EXPECT_EQ(c->peers[0].max_egress_ports, 33);                                    // 100 ports among 3 peers
  EXPECT_EQ(c->peers[0].ingress_cidrs, std::vector<std::string>{"10.0.0.0/24"});  // its source_cidrs
  EXPECT_EQ(c->peers[1].max_exports, 5);
  EXPECT_EQ(c->peers[1].max_egress_ports, 7);
  EXPECT_EQ(c->peers[1].ingress_cidrs, std::vector<std::string>{"10.9.0.0/16"});
  EXPECT_TRUE(c->peers[2].ingress_cidrs.empty());  // the watcher resolves the url's host
  EXPECT_EQ(c->admin.max_connections_per_source, 32);
}

TEST(Config, ParseEndpointForms) {
  EXPECT_EQ(parse_endpoint("127.0.0.1:9440")->port, 9440);
  EXPECT_EQ(parse_endpoint("[::1]:9440")->host, "::1");
  EXPECT_FALSE(parse_endpoint("::1:9440").has_value());
  EXPECT_FALSE(parse_endpoint("9440").has_value());
  EXPECT_FALSE(parse_endpoint("host:70000").has_value());
}

}  // namespace
}  // namespace meshfed::config

namespace meshfed::config {
namespace {

TEST(Config, TheStoreIsSqliteByDefaultOrAPostgresDatabaseNamedByAFile) {
  auto c = parse_config(kMinimal, "/etc/meshfed");
  ASSERT_TRUE(c.ok()) << format_errors(c.error());
  EXPECT_EQ(c->store.type, StoreType::kSqlite);
  EXPECT_FALSE(c->replica_id.empty());  // the host name

  auto j = nlohmann::json::parse(kMinimal);
  j["store"] = {{"type", "postgres"}, {"url_file", "pci/pg-url"}, {"pool_size", 8}};
  j["replica_id"] = "broker-2.pci";
  c = parse_config(j.dump(), "/etc/meshfed");
  ASSERT_TRUE(c.ok()) << format_errors(c.error());
  EXPECT_EQ(c->store.type, StoreType::kPostgres);
  EXPECT_EQ(c->store.url_file, "/etc/meshfed/pci/pg-url");
  EXPECT_EQ(c->store.pool_size, 8);
  EXPECT_EQ(c->replica_id, "broker-2.pci");

  j["store"] = {{"type", "mysql"}};
  j["replica_id"] = "two words";
  c = parse_config(j.dump(), "/etc/meshfed");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(message_for(c, "store.type"), "expected \"sqlite\" or \"postgres\", got \"mysql\"");
  EXPECT_NE(message_for(c, "replica_id").find("got \"two words\""), std::string::npos);
  j["store"] = {{"type", "postgres"}, {"pool_size", 0}};
  j.erase("replica_id");
  c = parse_config(j.dump(), "/etc/meshfed");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(fields_of(c), (std::set<std::string>{"store.url_file", "store.pool_size"}));
  j["store"] = {{"type", "sqlite"}, {"pool_size", 65}};
  c = parse_config(j.dump(), "/etc/meshfed");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(message_for(c, "store.pool_size").find("65"), std::string::npos);
  j["store"] = {{"type", "sqlite"}, {"pool_size", 2}};
  c = parse_config(j.dump(), "/etc/meshfed");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->store.pool_size, 2);  // the read pool, on either backend
}

}  // namespace
}  // namespace meshfed::config
