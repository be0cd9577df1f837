#include "meshfed/federation/catalog_check.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace meshfed::federation {
namespace {

using nlohmann::json;

CatalogRules rules() { return {"dmz", "dmz", 3, {*Cidr::parse("10.10.0.0/24")}}; }

Result<std::vector<std::string>> fake_resolve(const std::string& host) {
  if (host == "ingress.dmz.example") return std::vector<std::string>{"10.10.0.5"};
  if (host == "elsewhere.example") return std::vector<std::string>{"10.10.0.6", "192.0.2.7"};
  return make_error(ErrorCode::kUnavailable, "cannot resolve " + host);
}

json good_export(const std::string& id, const std::string& alias = "billing") {
  return testing::catalog_export(id, alias, "10.10.0.5", json::array({"envoy_cluster_*"}));
}

json catalog(json exports) { return testing::catalog_answer(std::move(exports)); }

CatalogRefusal refused(const std::string& body, const CatalogRules& r = rules()) {
  auto out = check_catalog(r, body, fake_resolve);
  if (auto* refusal = std::get_if<CatalogRefusal>(&out)) return *refusal;
  ADD_FAILURE() << "accepted: " << body.substr(0, 300);
  return {};
}

TEST(CatalogCheck, AcceptsAWellFormedAnswerAsPlainData) {
  auto out =
      check_catalog(rules(), catalog(json::array({good_export("billing-1"), good_export("ledger-2", "ledger")})).dump(),
                    fake_resolve);
  ASSERT_TRUE(std::holds_alternative<CatalogAnswer>(out)) << std::get<CatalogRefusal>(out).message;
  const auto& a = std::get<CatalogAnswer>(out);
  EXPECT_EQ(a.revision, 5);
  ASSERT_EQ(a.exports.size(), 2u);
  EXPECT_EQ(a.exports[1].alias, "ledger");
  EXPECT_EQ(a.exports[0].metrics, std::vector<std::string>{"envoy_cluster_*"});
  EXPECT_EQ(a.exports[0].ingress_port, 15443);

  json delta = {{"api_version", "v1"}, {"domain", "dmz"},          {"revision", 6},
                {"full", false},       {"upserts", json::array()}, {"removals", {"billing-1"}}};
  out = check_catalog(rules(), delta.dump(), fake_resolve);
  ASSERT_TRUE(std::holds_alternative<CatalogAnswer>(out));
  EXPECT_EQ(std::get<CatalogAnswer>(out).removals, std::vector<std::string>{"billing-1"});
}

TEST(CatalogCheck, AnExportsL7RulesAreReadStrictlyAndMustSuitItsProtocol) {
  json e = good_export("billing-1");
  e["protocol"] = "http";
  e["l7"] = json::parse(R"({"http": [{"path": {"prefix": "/v1/"}, "methods": ["GET"]}]})");
  auto out = check_catalog(rules(), catalog(json::array({e})).dump(), fake_resolve);
  ASSERT_TRUE(std::holds_alternative<CatalogAnswer>(out)) << std::get<CatalogRefusal>(out).message;
  EXPECT_EQ(std::get<CatalogAnswer>(out).exports.at(0).l7,
            R"({"http":[{"methods":["GET"],"path":{"prefix":"/v1/"}}]})");  // canonical
  EXPECT_EQ(std::get<CatalogAnswer>(out).exports.size(), 1u);

  e["l7"]["http"][0]["path"] = {{"prefix", "/v1/../admin/"}};
  auto r = refused(catalog(json::array({e})).dump());
  EXPECT_EQ(r.reason, "field");
  EXPECT_NE(r.message.find("l7.http[0].path.prefix"), std::string::npos) << r.message;

  e["l7"] = json::parse(R"({"grpc": ["a.B/*"]})");  // gRPC rules on an HTTP port
  r = refused(catalog(json::array({e})).dump());
  EXPECT_NE(r.message.find("export billing-1: "), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("l7"), std::string::npos) << r.message;

  json rules_list = json::array();
  for (int i = 0; i < 65; ++i)
    rules_list.push_back({{"methods", {"GET"}}, {"path", {{"exact", "/" + std::to_string(i)}}}});
  e["l7"] = {{"http", rules_list}};
  r = refused(catalog(json::array({e})).dump());
  EXPECT_NE(r.message.find("l7.http"), std::string::npos) << r.message;
}

TEST(CatalogCheck, DeepNestingAnywhereIsRefusedWithoutRecursion) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const std::string& body :
       {R"({"api_version": "v1", "domain": )" + deep + "}",
        R"({"api_version": "v1", "domain": "dmz", "revision": 1, "full": true, "exports": [{"id": )" + deep + "}]}"}) {
    CatalogRules big = rules();
    big.max_exports = 1000;  // room for the 200 KB body: the depth is what is refused
    const auto r = refused(body, big);
    EXPECT_EQ(r.reason, "depth") << r.message;
  }
}

TEST(CatalogCheck, EachBrokenRuleIsNamed) {
  auto with = [](const char* key, json value) {
    json e = good_export("billing-1");
    e[key] = std::move(value);
    return catalog(json::array({e})).dump();
  };
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"{ not json", "json", "not valid JSON"},
      {std::string(R"({"api_version": "v1"})") + std::string("\0x", 2), "json", "NUL byte"},
      {R"({"api_version": "v1", "api_version": "v1"})", "json", "twice"},
      {json{{"api_version", "v1"}, {"domain", "pci"}, {"revision", 1}, {"full", true}, {"exports", json::array()}}
           .dump(),
       "domain", "claims domain \"pci\""},
      {with("protocol", "tcp\"}, \"spec\": {\"evil\": 1"), "field", "protocol is longer than 16"},
      {with("protocol", "tcp\"}"), "field", "protocol must be one of"},
      {with("protocol", "udp"), "field", "protocol must be one of"},
      {with("alias", "Not An Alias"), "field", "alias is not an RFC 1035 label"},
      {with("service", std::string(64, 'a')), "field", "service is longer than 63"},
      {with("metrics", {"ok_name", "bad name{}"}), "field", "Prometheus metric names"},
      {with("metrics", json(std::vector<std::string>(65, "m"))), "field", "more than 64"},
      {with("sni", "evil.pci.meshfed"), "field", "sni must be billing-1.dmz.meshfed"},
      {with("port", 70000), "field", "export 0.port: expected an integer in [1, 65535]"},
      // Named by path and kind; a value from the peer is never quoted into the audit log.
      {with("alias", "Not_A_Label"), "field", "export billing-1: alias is not an RFC 1035 label"},
      {with("service", json{{"evil", "<script>"}}), "field", "export 0.service: expected a string, got an object"},
      {with("ingress", json::array({"10.0.0.1"})), "field", "export 0.ingress: expected an object, got an array"},
      {with("expires_at", "tomorrow"), "field", "expires_at must be an RFC 3339 time"},
      {catalog(json::array({good_export("billing-1"), good_export("billing-1")})).dump(), "field", "listed twice"},
      {catalog(json::array({good_export("billing-1"), good_export("billing-2")})).dump(), "field",
       "exports billing-1 and billing-2 share the alias billing"},
      {R"({"api_version": "v1", "domain": "dmz", "revision": 1e400})", "json", "out of range"},
      {R"({"api_version": "v1", "domain": "dmz", "revision": 1, "full": true, "exports": {"ingress": {"host": "x"}}})",
       "field", "catalog exports must be an array"},
  };
  for (const auto& [body, reason, words] : cases) {
    const auto r = refused(body);
    EXPECT_EQ(r.reason, reason) << words << ": " << r.message;
    EXPECT_NE(r.message.find(words), std::string::npos) << words << ": " << r.message;
    EXPECT_EQ(r.message.find("<script>"), std::string::npos) << r.message;
  }
}

TEST(CatalogCheck, CountAndBytesAreCappedPerPeer) {
  const auto r = refused(catalog(json::array({good_export("a-1", "a1"), good_export("a-2", "a2"),
                                              good_export("a-3", "a3"), good_export("a-4", "a4")}))
                             .dump());
  EXPECT_EQ(r.reason, "count");
  EXPECT_NE(r.message.find("more than the 3 exports allowed for peer dmz (peers[].max_exports)"), std::string::npos);
  const auto big = refused(std::string(catalog_byte_limit(rules()) + 1, ' '));
  EXPECT_EQ(big.reason, "size");
}

TEST(CatalogCheck, OneIngressEndpointInsideTheConfiguredRanges) {
  auto at = [](const std::string& host, int port) {
    json e = good_export("billing-1");
    e["ingress"] = {{"host", host}, {"port", port}};
    return e;
  };
  EXPECT_EQ(refused(catalog(json::array({at("10.99.99.99", 22)})).dump()).reason, "ingress");
  EXPECT_NE(refused(catalog(json::array({at("10.99.99.99", 22)})).dump())
                .message.find("outside the peer's ingress_cidrs [10.10.0.0/24]"),
            std::string::npos);
  json second = at("10.10.0.5", 15444);
  second["id"] = "ledger-2";
  second["alias"] = "ledger";
  second["sni"] = "ledger-2.dmz.meshfed";
  EXPECT_NE(refused(catalog(json::array({at("10.10.0.5", 15443), second})).dump())
                .message.find("more than one ingress endpoint"),
            std::string::npos);
  EXPECT_NE(refused(catalog(json::array({at("nowhere.invalid", 15443)})).dump()).message.find("does not resolve"),
            std::string::npos);
  EXPECT_NE(refused(catalog(json::array({at("elsewhere.example", 15443)})).dump()).message.find("192.0.2.7"),
            std::string::npos);
  EXPECT_EQ(refused(catalog(json::array({at("bad host!", 15443)})).dump()).reason, "field");
  // A name is fine when everything it resolves to is inside the ranges.
  auto ok = check_catalog(rules(), catalog(json::array({at("ingress.dmz.example", 15443)})).dump(), fake_resolve);
  EXPECT_TRUE(std::holds_alternative<CatalogAnswer>(ok));
}

TEST(CatalogCheck, FieldRules) {
  for (const char* p : {"tcp", "http", "http2", "grpc"}) EXPECT_TRUE(is_import_protocol(p));
  for (const char* p : {"", "TCP", "udp", "tcp "}) EXPECT_FALSE(is_import_protocol(p));
  for (const char* m : {"envoy_cluster_upstream_rq_total", "envoy_*", "a:b_c", "_x"})
    EXPECT_TRUE(is_metric_pattern(m)) << m;
  for (const char* m : {"", "*", "1abc", "a-b", "a*b", "a{}", "envoy_**"}) EXPECT_FALSE(is_metric_pattern(m)) << m;
  EXPECT_FALSE(is_metric_pattern(std::string(201, 'a')));
}

}  // namespace
}  // namespace meshfed::federation
