#include "meshfed/gateway/routes.hpp"

#include <gtest/gtest.h>

#include "unit/gateway/ingress_route.hpp"

#include "meshfed/gateway/proxy_protocol.hpp"
#include "meshfed/pki/pki.hpp"
#include "support/test_support.hpp"
#include "support/net_support.hpp"

namespace meshfed::gateway {
namespace {

using nlohmann::json;

RoutingTable sample() {
  RoutingTable t;
  t.revision = 42;
  t.ingress.push_back(testing::ingress_route("b.pci.meshfed", "b", "internal", "10.0.0.2", 5432, false, 1800000000000));
  t.ingress.push_back(testing::ingress_route("a.pci.meshfed", "a", "internal", "10.0.0.1", 8443, true, 1800000000000));
  t.ingress.push_back(testing::ingress_route("a.pci.meshfed", "a", "dmz", "10.0.0.1", 8443, true, 1800000000000));
  t.ingress.back().l7 = std::make_shared<const policy::L7Rules>(
      policy::parse_l7(json::parse(R"({"http": [{"methods": ["GET"], "path": {"prefix": "/v1/"}}]})")).value());
  t.ingress.back().protocol = "http2";
  // Field by field: from one braced temporary GCC 12 at -O3 reports the nested strings as
  // maybe uninitialised (a false positive).
  EgressRoute& egress = t.egress.emplace_back();
  egress.import_id = "pci.x";
  egress.listen.host = "0.0.0.0";
  egress.listen.port = 16001;
  egress.peer = "pci";
  egress.sni = "x.pci.meshfed";
  egress.ingress.host = "ingress.pci";
  egress.ingress.port = 15443;
  egress.expires_at_ms = 1800000000000;
  t.sort();
  return t;
}

TEST(Routes, JsonRoundTripsAndLookupsFindByCallerAndSni) {
  const auto t = sample();
  const auto back = parse_routes(to_json(t).dump());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->revision, 42);
  EXPECT_TRUE(back->same_routes(t));
  ASSERT_NE(t.find_ingress("a.pci.meshfed", "dmz"), nullptr);
  EXPECT_EQ(t.find_ingress("a.pci.meshfed", "dmz")->peer, "dmz");
  ASSERT_NE(back->find_ingress("a.pci.meshfed", "dmz")->l7, nullptr);  // the rules travel with the route
  EXPECT_EQ(back->find_ingress("a.pci.meshfed", "dmz")->l7->http.at(0).path.value, "/v1/");
  EXPECT_EQ(back->find_ingress("a.pci.meshfed", "dmz")->protocol, "http2");
  EXPECT_EQ(back->find_ingress("a.pci.meshfed", "internal")->l7, nullptr);
  EXPECT_EQ(t.find_ingress("b.pci.meshfed", "dmz"), nullptr);  // b is internal's only
  EXPECT_TRUE(t.has_sni("b.pci.meshfed"));
  EXPECT_FALSE(t.has_sni("c.pci.meshfed"));
}

TEST(Routes, ParseNamesTheFieldThatIsWrong) {
  json j = to_json(sample());
  j["ingress"][1]["target"]["port"] = 70000;
  auto r = parse_routes(j.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("ingress[1].target.port"), std::string::npos) << r.error().message;
  j = to_json(sample());
  j["ingress"][0]["sni"] = "";
  j["egress"][0].erase("peer");
  j["egress"][0]["added_by_a_newer_broker"] = true;  // tolerated
  r = parse_routes(j.dump());
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().fields.size(), 2u) << r.error().message;  // every wrong field, not the first alone
  EXPECT_EQ(r.error().fields[0].field, "ingress[0].sni");
  EXPECT_EQ(r.error().fields[1].field, "egress[0].peer");
  j = to_json(sample());
  j["ingress"][0]["l7"] = {{"http", {{{"methods", {"BREW"}}, {"path", {{"exact", "/"}}}}}}};
  r = parse_routes(j.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().fields.at(0).field.rfind("ingress[0].l7.http[0].methods", 0), 0u) << r.error().message;
  j = to_json(sample());
  j["egress"][0]["expires_at"] = "soon";
  r = parse_routes(j.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("egress[0].expires_at"), std::string::npos) << r.error().message;
  EXPECT_FALSE(parse_routes("[]").ok());
  EXPECT_FALSE(parse_routes(R"({"revision": 1, "ingress": []})").ok());
}

// The peers added through the broker's API travel with the routes to separate gateways: a
// broker's table is read back whole, and a hostile one is bounded and every CA checked.
TEST(Routes, PeersAddedThroughTheApiTravelWithTheRoutesBoundedAndChecked) {
  testing::TempDir dir;
  pki::InitOptions o;
  o.domain = "edge";
  ASSERT_TRUE(pki::init_domain(dir / "edge", o).ok());
  const auto ca = testing::must(pki::certificates_pem(dir / "edge/ca.pem"));
  RoutingTable t = sample();
  t.api_peers.push_back({"edge", "edge", ca});
  const auto back = parse_routes(to_json(t).dump());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->api_peers, t.api_peers);
  EXPECT_FALSE(back->same_routes(sample())) << "a peer added or removed is a new table";

  json j = to_json(t);
  j["peers"][0]["ca_pem"][0] = testing::read_file(dir / "edge/broker.pem");  // a leaf, not a CA
  j["peers"][0]["trust_domain"] = "spiffe://edge";
  auto r = parse_routes(j.dump());
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().fields.size(), 2u) << r.error().message;
  EXPECT_EQ(r.error().fields[0].field, "peers[0].trust_domain");
  EXPECT_EQ(r.error().fields[1].field, "peers[0].ca_pem[0]");
  j = to_json(t);
  j["peers"][0]["ca_pem"] = json::array({ca[0], ca[0], ca[0], ca[0], ca[0]});
  EXPECT_FALSE(parse_routes(j.dump()).ok()) << "at most four CAs";
  j = to_json(t);
  j["peers"] = json::array();
  for (size_t i = 0; i <= kMaxApiPeers; ++i) j["peers"].push_back(to_json(t)["peers"][0]);
  r = parse_routes(j.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().fields.at(0).field, "peers");
  j = to_json(t);
  j.erase("peers");  // an older broker
  ASSERT_TRUE(parse_routes(j.dump()).ok());
  EXPECT_TRUE(parse_routes(j.dump())->api_peers.empty());
}

TEST(ProxyProtocol, HeaderCarriesAddressesAndCallerTlvs) {
  auto h = proxy_v2_header({"10.20.0.5", 40000}, {"10.30.0.1", 15443}, "internal", "spiffe://internal/meshfed/egress");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(static_cast<uint8_t>((*h)[12]), 0x21);  // version 2, PROXY
  EXPECT_EQ(static_cast<uint8_t>((*h)[13]), 0x11);  // TCP over IPv4
  size_t consumed = 0;
  auto parsed = testing::parse_proxy_v2(*h + "payload", consumed);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(consumed, h->size());
  EXPECT_EQ(parsed->source, "10.20.0.5:40000");
  EXPECT_EQ(parsed->destination, "10.30.0.1:15443");
  EXPECT_EQ(parsed->tlvs.at(kTlvCallerDomain), "internal");
  EXPECT_EQ(parsed->tlvs.at(kTlvCallerSpiffeId), "spiffe://internal/meshfed/egress");

  auto mixed = proxy_v2_header({"10.20.0.5", 1}, {"fd00::1", 2}, "d", "id");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(static_cast<uint8_t>((*mixed)[13]), 0x21);  // TCP over IPv6, the IPv4 source mapped
  auto p6 = testing::parse_proxy_v2(*mixed, consumed);
  ASSERT_TRUE(p6.has_value());
  EXPECT_EQ(p6->source, "::ffff:10.20.0.5:1");
  EXPECT_FALSE(proxy_v2_header({"ingress.example", 1}, {"10.0.0.1", 2}, "d", "id").ok());
}

TEST(ProxyProtocol, AStreamStartingWithAProxySignatureIsToldApartFromOneThatOnlyBeginsLikeIt) {
  const std::string v2 = *proxy_v2_header({"10.0.0.1", 1}, {"10.0.0.2", 2}, "d", "id");
  EXPECT_EQ(proxy_prefix(v2), ProxyPrefix::kSignature);
  EXPECT_EQ(proxy_prefix(v2.substr(0, 12)), ProxyPrefix::kSignature);
  EXPECT_EQ(proxy_prefix(v2.substr(0, 11)), ProxyPrefix::kUndecided);
  EXPECT_EQ(proxy_prefix("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), ProxyPrefix::kSignature);
  EXPECT_EQ(proxy_prefix("PROXY "), ProxyPrefix::kSignature);
  EXPECT_EQ(proxy_prefix("PROXY"), ProxyPrefix::kUndecided);
  EXPECT_EQ(proxy_prefix("\r\n"), ProxyPrefix::kUndecided) << "the v2 signature starts with CRLF";
  EXPECT_EQ(proxy_prefix(""), ProxyPrefix::kUndecided);
  EXPECT_EQ(proxy_prefix("PRIVMSG"), ProxyPrefix::kNone);
  EXPECT_EQ(proxy_prefix("GET / HTTP/1.1\r\n"), ProxyPrefix::kNone);
  EXPECT_EQ(proxy_prefix("\r\nX"), ProxyPrefix::kNone);
}

}  // namespace
}  // namespace meshfed::gateway
