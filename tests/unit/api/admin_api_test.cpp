#include "meshfed/api/admin_api.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/routing/route_builder.hpp"

#include <gtest/gtest.h>

#include "unit/gateway/ingress_route.hpp"

#include "support/test_support.hpp"
#include "unit/api/fake_broker.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::api {
namespace {

using nlohmann::json;

// Drives the handlers directly with plain requests: the HTTP layer is covered end to end in
// tests/integration.
class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(store::Database::open(dir_ / "m.db")).value();
    wf_ = std::make_unique<workflow::ExportWorkflow>(
        *db_, clock_, adapter_, workflow::WorkflowSettings{"pci", "pci", {"internal", "dmz"}, 3600, 7200, 600});
    imports_ = std::make_unique<federation::ImportManager>(*db_, clock_, adapter_, federation::ImportSettings{});
    api_ = std::make_unique<AdminApi>(AdminApiDeps{*wf_, adapter_, registry_, *imports_, broker_, broker_, broker_,
                                                   broker_, nullptr, &broker_, &broker_, &clock_, &broker_, nullptr,
                                                   &l7_reports_});
  }

  http::Response call(const std::string& method, const std::string& target, const std::string& who,
                      const std::string& body = "", const std::string& content_type = "application/json",
                      std::map<std::string, std::string> headers = {}) {
    http::Request r;
    r.method = method;
    r.target = target;
    EXPECT_TRUE(http::parse_target(target, r.path, r.query));
    if (!who.empty()) r.headers["authorization"] = "Bearer " + broker_.tokens_by_name.at(who);
    if (!body.empty()) r.headers["content-type"] = content_type;
    for (auto& [k, v] : headers) r.headers[k] = v;
    r.body = body;
    return api_->handle(r);
  }

  std::string request_export(const json& extra = json::object()) {
    json body = {{"mesh", "default"},
                 {"service", "payments-api"},
                 {"port", 8443},
                 {"peers", {"internal"}},
                 {"reason", "checkout"}};
    body.update(extra);
    auto r = call("POST", "/api/v1/exports", "alice", body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body)["id"];
  }

  int64_t export_count() {
    const auto counts = wf_->count_by_state();
    int64_t n = 0;
    for (const auto& [state, count] : *counts) n += count;
    return n;
  }

  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  testing::FakeAdapter adapter_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<workflow::ExportWorkflow> wf_;
  metrics::Registry registry_;
  metrics::Family& l7_denied_ = registry_.counter("meshfed_gateway_l7_denied_total", "Denied.", {"export", "peer"});
  metrics::CounterReports l7_reports_{l7_denied_, 4};
  testing::FakeBroker broker_{{{"alice", "requester"}, {"bob", "approver"}, {"victor", "viewer"}, {"gw", "gateway"}}};
  routing::RouteTableHolder& routes_ = broker_.table;
  std::unique_ptr<federation::ImportManager> imports_;
  std::unique_ptr<AdminApi> api_;
};

std::optional<std::string> header_of(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

json problem_of(const http::Response& r) {
  EXPECT_EQ(r.content_type, "application/problem+json");
  auto j = json::parse(r.body);
  EXPECT_TRUE(j.contains("type") && j.contains("title") && j.contains("status") && j.contains("detail")) << r.body;
  EXPECT_EQ(j["status"], r.status);
  return j;
}

// Each route says where it runs when it is registered: only what needs no store (or must not
// wait behind it) leaves the store thread.
// GET /api/v1/peering/bundle: the bundle and its fingerprint to any viewer, computed by the
// peering module from what the broker gives; a broker that cannot make one says why.
TEST_F(AdminApiTest, ThePeeringBundleIsGivenToViewersWithItsFingerprint) {
  peering::Bundle b;
  b.domain = "pci";
  b.trust_domain = "pci";
  b.peer_api = "https://broker.pci.example:9443";
  b.ca_pem = {"-----BEGIN CERTIFICATE-----\nAB\n-----END CERTIFICATE-----\n"};
  broker_.peering_bundle = b;
  EXPECT_EQ(call("GET", "/api/v1/peering/bundle", "").status, 401);
  EXPECT_EQ(call("GET", "/api/v1/peering/bundle", "gw").status, 403) << "the gateway role reads routes only";
  const auto r = call("GET", "/api/v1/peering/bundle", "victor");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["bundle"], peering::to_json(b));
  EXPECT_EQ(body["fingerprint"], peering::fingerprint(b));
  EXPECT_TRUE(peering::fingerprint_matches(b, body["fingerprint"].get<std::string>()));

  broker_.peering_bundle.reset();
  const auto refused = call("GET", "/api/v1/peering/bundle", "victor");
  EXPECT_EQ(refused.status, 409);
  EXPECT_NE(refused.body.find("peer_api.advertise"), std::string::npos) << refused.body;
}

TEST_F(AdminApiTest, EachRouteRunsOnTheExecutorItWasRegisteredWith) {
  EXPECT_EQ(api_->runs_on("GET", "/federate"), Runs::kOffStore);
  EXPECT_EQ(api_->runs_on("GET", "/api/v1/firewall"), Runs::kOffStore);
  EXPECT_EQ(api_->runs_on("GET", "/api/v1/peering/bundle"), Runs::kOffStore);  // reads the CA file
  EXPECT_EQ(api_->runs_on("GET", "/ui/"), Runs::kOffStore);
  EXPECT_EQ(api_->runs_on("GET", "/ui/app.js"), Runs::kOffStore);
  // Answers that only read, through the read pool; the writes on the same paths stay.
  EXPECT_EQ(api_->runs_on("GET", "/api/v1/exports"), Runs::kOffStore);
  EXPECT_EQ(api_->runs_on("GET", "/api/v1/exports/e-1"), Runs::kOffStore);
  EXPECT_EQ(api_->runs_on("GET", "/api/v1/audit"), Runs::kOffStore);
  EXPECT_EQ(api_->runs_on("GET", "/api/v1/audit/head"), Runs::kOffStore);
  EXPECT_EQ(api_->runs_on("POST", "/api/v1/exports"), Runs::kOnStore);
  EXPECT_EQ(api_->runs_on("POST", "/api/v1/exports/e-1/approve"), Runs::kOnStore);
  EXPECT_EQ(api_->runs_on("GET", "/metrics"), Runs::kOnStore);
  EXPECT_EQ(api_->runs_on("GET", "/api/v1/audit/verify"), Runs::kOnStore);
  EXPECT_EQ(api_->runs_on("GET", "/no/such/path"), Runs::kOnStore);
  int off_store = 0;
  for (const auto& r : api_->router().routes()) off_store += r.runs == Runs::kOffStore;
  EXPECT_EQ(off_store, 7) << "a route moved off the store thread: add it above";
}

TEST_F(AdminApiTest, FederateNeedsNoTokenPassesEveryMatchAndReportsBadSelectors) {
  auto r = call("GET", "/federate?match[]=%7Bservice%3D%22a%22%7D&match[]=up", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.body, "x{service=\"a\"} 1\n");
  EXPECT_EQ(broker_.federated_match, (std::vector<std::string>{"{service=\"a\"}", "up"}));
  r = call("GET", "/federate?match[]=%7Bbad", "");
  EXPECT_EQ(r.status, 400);
  const std::string detail = problem_of(r)["detail"];
  EXPECT_NE(detail.find("{bad"), std::string::npos) << detail;  // names the selector it could not read
}

TEST_F(AdminApiTest, ReplicasAreListedForViewersWithTheirRoleAndLastHeartbeat) {
  broker_.replica_rows.push_back({"pci-2", "10.0.0.2:9440", false, 1'800'000'001'000});
  auto r = call("GET", "/api/v1/replicas", "victor");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto body = json::parse(r.body);
  EXPECT_EQ(body["next"], nullptr);
  ASSERT_EQ(body["items"].size(), 2u);
  EXPECT_EQ(body["items"][0], (json{{"id", "pci-1"},
                                    {"address", "127.0.0.1:9440"},
                                    {"role", "leader"},
                                    {"last_heartbeat", "2027-01-15T08:00:00.000Z"}}));
  EXPECT_EQ(body["items"][1]["role"], "follower");
  EXPECT_EQ(call("GET", "/api/v1/replicas", "").status, 401);
}

// L7 rules travel with the request, come back as sent (in canonical form), and a wrong rule or
// a port that cannot carry rules is a 400 naming the field; nothing is created.
TEST_F(AdminApiTest, AnExportRequestCarriesL7RulesAndEveryWrongOneIsNamed) {
  const json rules = {{"http", {{{"methods", {"GET"}}, {"path", {{"prefix", "/metrics/"}}}}}}};
  const json ledger = {{"mesh", "default"},     {"service", "ledger"},      {"port", 9187},
                       {"peers", {"internal"}}, {"reason", "metrics page"}, {"l7", rules}};
  auto r = call("POST", "/api/v1/exports", "alice", ledger.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["l7"], rules);
  EXPECT_EQ(
      json::parse(call("GET", "/api/v1/exports/" + json::parse(r.body)["id"].get<std::string>(), "victor").body)["l7"],
      rules);
  const int64_t before = export_count();

  json bad = ledger;
  bad["alias"] = "ledger-2";
  bad["l7"]["http"][0]["path"]["prefix"] = "/metrics/../admin";
  r = call("POST", "/api/v1/exports", "alice", bad.dump());
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["errors"][0]["field"], "l7.http[0].path.prefix") << r.body;
  bad = ledger;
  bad["alias"] = "ledger-db";
  bad["port"] = 5432;  // tcp
  r = call("POST", "/api/v1/exports", "alice", bad.dump());
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["errors"][0]["field"], "l7") << r.body;
  EXPECT_EQ(export_count(), before);
  EXPECT_TRUE(json::parse(call("GET", "/api/v1/exports/" + request_export(), "victor").body)["l7"].is_null())
      << "a TCP export has none";
}

TEST_F(AdminApiTest, NewL7RulesAreProposedThenApprovedByAnotherApprover) {
  const json rules = {{"http", {{{"methods", {"GET"}}, {"path", {{"prefix", "/metrics/"}}}}}}};
  auto r = call("POST", "/api/v1/exports", "alice",
                json{{"mesh", "default"},
                     {"service", "ledger"},
                     {"port", 9187},
                     {"peers", {"internal"}},
                     {"reason", "metrics page"},
                     {"l7", rules}}
                    .dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = json::parse(r.body)["id"];
  ASSERT_EQ(call("POST", "/api/v1/exports/" + id + "/approve", "bob").status, 200);

  r = call("POST", "/api/v1/exports/" + id + "/l7", "alice", R"({"comment": "no rules"})");
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["errors"][0]["field"], "l7");
  r = call("POST", "/api/v1/exports/" + id + "/l7", "alice", R"({"l7": {"http": [{"methods": ["BREW"]}]}})");
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["errors"][0]["field"].get<std::string>().rfind("l7.http[0]", 0), 0u) << r.body;

  json wider = rules;
  wider["http"][0]["methods"] = {"GET", "HEAD"};
  r = call("POST", "/api/v1/exports/" + id + "/l7", "alice", json{{"l7", wider}, {"comment", "HEAD too"}}.dump(),
           "application/json", {{"if-match", "\"1\""}});
  EXPECT_EQ(r.status, 412) << "the export moved on since version 1: " << r.body;
  r = call("POST", "/api/v1/exports/" + id + "/l7", "alice", json{{"l7", wider}, {"comment", "HEAD too"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["l7"], rules);
  EXPECT_EQ(json::parse(r.body)["l7_change"], (json{{"l7", wider}, {"proposed_by", "alice"}}));
  EXPECT_EQ(call("POST", "/api/v1/exports/" + id + "/l7/approve", "alice").status, 403);
  r = call("POST", "/api/v1/exports/" + id + "/l7/approve", "bob");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["l7"], wider);
  EXPECT_TRUE(json::parse(r.body)["l7_change"].is_null());
  EXPECT_EQ(call("POST", "/api/v1/exports/" + id + "/l7/reject", "bob").status, 409) << "nothing waits";
}

TEST_F(AdminApiTest, CreatedExportCarriesEtagLocationAndContractFields) {
  auto r = call("POST", "/api/v1/exports", "alice",
                R"({"mesh":"default","service":"payments-api","port":8443,"peers":["internal"],"reason":"x"})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto j = json::parse(r.body);
  for (const char* k :
       {"id",           "mesh",         "service",        "port",       "protocol",    "zone",           "alias",
        "peers",        "metrics",      "proxy_protocol", "sni",        "state",       "target_missing", "version",
        "requested_by", "requested_at", "reason",         "decided_by", "approved_at", "expires_at",     "history",
        "l7",           "l7_change"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  bool etag = false, location = false;
  for (const auto& [k, v] : r.headers) {
    etag |= k == "ETag" && v == "\"1\"";
    location |= k == "Location" && v == "/api/v1/exports/" + j["id"].get<std::string>();
  }
  EXPECT_TRUE(etag && location);
}

TEST_F(AdminApiTest, NoOrBadTokenIs401AndMissingRoleIs403) {
  EXPECT_EQ(problem_of(call("GET", "/api/v1/exports", "")).at("status"), 401);
  http::Request r;
  r.method = "GET";
  r.path = "/api/v1/exports";
  r.headers["authorization"] = "Bearer nope";
  EXPECT_EQ(api_->handle(r).status, 401);
  auto forbidden = call("POST", "/api/v1/exports", "victor", R"({"mesh":"default"})");
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_NE(problem_of(forbidden)["detail"].get<std::string>().find("requester"), std::string::npos);
  auto failures = api_->take_auth_failures();
  EXPECT_EQ(failures["missing_token"], 1);
  EXPECT_EQ(failures["bad_token"], 1);
  EXPECT_EQ(failures["missing_role"], 1);
  EXPECT_TRUE(api_->take_auth_failures().empty());
}

TEST_F(AdminApiTest, ASourceThatKeepsGuessingTokensIsSlowedWith429AndOthersAreNot) {
  auto guess = [&](const std::string& remote, const std::string& token) {
    http::Request r;
    r.method = "GET";
    r.path = "/api/v1/exports";
    r.remote = remote;
    r.headers["authorization"] = "Bearer " + token;
    return api_->handle(r);
  };
  for (int i = 0; i < 20; ++i) ASSERT_EQ(guess("192.0.2.7:" + std::to_string(40000 + i), "guess").status, 401) << i;
  const auto slowed = guess("192.0.2.7:41000", "guess");
  EXPECT_EQ(slowed.status, 429) << "the burst is spent, whichever port the source comes from";
  EXPECT_EQ(header_of(slowed, "Retry-After"), "2");
  EXPECT_NE(problem_of(slowed)["detail"].get<std::string>().find("192.0.2.7"), std::string::npos);
  EXPECT_EQ(guess("192.0.2.7:41001", broker_.tokens_by_name.at("victor")).status, 429)
      << "not even a good token is looked at while the source is slowed: guessing learns nothing";
  EXPECT_EQ(guess("192.0.2.8:40000", broker_.tokens_by_name.at("victor")).status, 200) << "another source";
  EXPECT_EQ(call("POST", "/api/v1/exports", "victor", R"({"mesh":"default"})").status, 403);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(call("POST", "/api/v1/exports", "victor", R"({"mesh":"default"})").status, 403)
        << "a missing role is not a guess: it never slows its source";
  }
  clock_.advance(std::chrono::seconds(2));
  EXPECT_EQ(guess("192.0.2.7:41002", broker_.tokens_by_name.at("victor")).status, 200) << "after Retry-After";
  EXPECT_EQ(api_->auth_failures_metric().value({"admin", "bad_token"}), 20);
  EXPECT_EQ(api_->auth_failures_metric().value({"admin", "throttled"}), 2);
}

TEST_F(AdminApiTest, BadBodiesAre4xxNamingTheProblemAndChangeNothing) {
  struct Case {
    std::string body, content_type;
    int status;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"{not json", "application/json", 400, "(body)"},
      {"[1,2]", "application/json", 400, "(body)"},
      {R"({"mesh":"default"})", "text/plain", 415, ""},
      {R"({"mesh":"default","service":"payments-api","port":8443,"peers":["internal"],"reason":"x","colour":"red"})",
       "application/json", 400, "colour"},
      {R"({"mesh":"default","service":"payments-api","port":"8443","peers":["internal"],"reason":"x"})",
       "application/json", 400, "port"},
      {R"({"mesh":"default","service":"payments-api","port":8443,"peers":["internal"]})", "application/json", 400,
       "reason"},
      {R"({"mesh":"default","service":"payments-api","port":8443,"peers":"internal","reason":"x"})", "application/json",
       400, "peers"},
  };
  for (const auto& c : cases) {
    auto r = call("POST", "/api/v1/exports", "alice", c.body, c.content_type);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    auto p = problem_of(r);
    if (!c.field.empty()) {
      ASSERT_TRUE(p.contains("errors")) << r.body;
      bool named = false;
      for (const auto& e : p["errors"]) named |= e["field"] == c.field;
      EXPECT_TRUE(named) << c.field << " not named in " << r.body;
    }
  }
  EXPECT_EQ(export_count(), 0);
  EXPECT_EQ(wf_->audit_head()->first, 0);
}

TEST_F(AdminApiTest, FourEyesIs403AndWrongStateIs409WithCurrentState) {
  const std::string id = request_export();
  auto self = call("POST", "/api/v1/exports/" + id + "/approve", "alice", R"({"comment":"me"})");
  EXPECT_EQ(self.status, 403);
  ASSERT_EQ(call("POST", "/api/v1/exports/" + id + "/approve", "bob", R"({"comment":"ok"})").status, 200);
  auto again = call("POST", "/api/v1/exports/" + id + "/approve", "bob", "");
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(problem_of(again)["detail"].get<std::string>().find("approved"), std::string::npos);
}

TEST_F(AdminApiTest, IfMatchIsHonoured) {
  const std::string id = request_export();
  auto stale = call("POST", "/api/v1/exports/" + id + "/approve", "bob", "", "", {{"if-match", "\"5\""}});
  EXPECT_EQ(stale.status, 412);
  auto bad = call("POST", "/api/v1/exports/" + id + "/approve", "bob", "", "", {{"if-match", "nonsense"}});
  EXPECT_EQ(bad.status, 400);
  auto ok = call("POST", "/api/v1/exports/" + id + "/approve", "bob", "", "", {{"if-match", "\"1\""}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(AdminApiTest, ListsPaginateWithLimitAndAfter) {
  for (int i = 0; i < 3; ++i) request_export({{"alias", "pay-" + std::to_string(i)}});
  auto first = json::parse(call("GET", "/api/v1/exports?limit=2", "victor").body);
  ASSERT_EQ(first["items"].size(), 2u);
  ASSERT_TRUE(first["next"].is_string());
  auto second =
      json::parse(call("GET", "/api/v1/exports?limit=2&after=" + first["next"].get<std::string>(), "victor").body);
  EXPECT_EQ(second["items"].size(), 1u);
  EXPECT_TRUE(second["next"].is_null());
  EXPECT_EQ(call("GET", "/api/v1/exports?limit=0", "victor").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/exports?state=bogus", "victor").status, 400);
  EXPECT_EQ(json::parse(call("GET", "/api/v1/exports?state=pending", "victor").body)["items"].size(), 3u);
  auto audit = json::parse(call("GET", "/api/v1/audit?since=1&limit=1", "victor").body);
  ASSERT_EQ(audit["items"].size(), 1u);
  EXPECT_EQ(audit["items"][0]["seq"], 2);
  EXPECT_EQ(json::parse(call("GET", "/api/v1/audit/head", "victor").body)["seq"], 3);
}

TEST_F(AdminApiTest, UnknownPathsAndMethods) {
  EXPECT_EQ(call("GET", "/api/v1/nothing", "victor").status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/exports", "victor").status, 405);
  auto v2 = call("GET", "/api/v2/exports", "victor");
  EXPECT_EQ(v2.status, 404);
  EXPECT_NE(problem_of(v2)["detail"].get<std::string>().find("v1"), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/exports/none-00000000", "victor").status, 404);
}

// A stranger's made-up methods share one label value: /metrics does not grow with them.
TEST_F(AdminApiTest, UnknownMethodsShareOneMetricLabel) {
  for (int i = 0; i < 50; ++i) call("M" + std::to_string(i), "/api/v1/exports", "");
  call("GET", "/api/v1/exports", "victor");
  const auto m = call("GET", "/metrics", "").body;
  EXPECT_EQ(m.find("method=\"M1"), std::string::npos) << m;
  EXPECT_NE(m.find("meshfed_api_requests_total{route=\"(unmatched)\",method=\"other\",code=\"405\"} 50"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("method=\"GET\""), std::string::npos) << m;
}

TEST_F(AdminApiTest, OperationalEndpointsNeedNoToken) {
  EXPECT_EQ(call("GET", "/healthz", "").status, 200);
  EXPECT_EQ(call("GET", "/readyz", "").status, 200);
  auto m = call("GET", "/metrics", "");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("meshfed_api_requests_total"), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/openapi.json", "").status, 200);
}

TEST_F(AdminApiTest, RouteWatchIsForGatewaysAndWaitsOnlyWhenCurrent) {
  EXPECT_EQ(call("GET", "/api/v1/routes", "victor").status, 403);  // viewers do not get the routes
  EXPECT_EQ(call("GET", "/api/v1/routes", "").status, 401);
  gateway::RoutingTable t;
  t.ingress.push_back(testing::ingress_route("x.pci.meshfed", "x", "internal", "10.0.0.1", 8443, true, 4102444800000));
  ASSERT_TRUE(routes_.update(t));

  auto r = call("GET", "/api/v1/routes", "gw");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto parsed = gateway::parse_routes(r.body);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->revision, 1001);
  ASSERT_EQ(parsed->ingress.size(), 1u);
  EXPECT_EQ(parsed->ingress[0], t.ingress[0]);

  EXPECT_TRUE(call("GET", "/api/v1/routes?since=1001&wait=5", "gw").waiting());  // nothing newer: wait
  EXPECT_EQ(call("GET", "/api/v1/routes?since=1001", "gw").status, 200);         // no wait: answer now
  EXPECT_EQ(call("GET", "/api/v1/routes?since=7&wait=5", "gw").status, 200);     // another revision: answer now
  const auto bad = call("GET", "/api/v1/routes?wait=301", "gw");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("wait"), std::string::npos);
  EXPECT_FALSE(routes_.update(t));  // the same routes keep their revision
}

TEST_F(AdminApiTest, ASeparateIngressReportsItsDenialsForRoutesInForceOnly) {
  gateway::RoutingTable t;
  t.ingress.push_back(testing::ingress_route("x.pci.meshfed", "x", "internal", "10.0.0.1", 8443, true, 4102444800000));
  ASSERT_TRUE(routes_.update(t));
  auto report = [&](const json& denials, const std::string& who = "gw") {
    return call("POST", "/api/v1/routes/l7-denials", who, json{{"instance", "run-1"}, {"denials", denials}}.dump());
  };
  EXPECT_EQ(report(json::array(), "victor").status, 403) << "gateways only";

  auto r = report({{{"export", "x"}, {"peer", "internal"}, {"total", 3}},
                   {{"export", "x"}, {"peer", "dmz"}, {"total", 9}},  // not exported to dmz: ignored
                   {{"export", "made-up"}, {"peer", "internal"}, {"total", 9}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), (json{{"counted", 1}, {"ignored", 2}}));
  EXPECT_EQ(l7_denied_.value({"x", "internal"}), 3);
  EXPECT_EQ(l7_denied_.value({"x", "dmz"}), 0);
  EXPECT_EQ(l7_denied_.value({"made-up", "internal"}), 0);
  ASSERT_EQ(report({{{"export", "x"}, {"peer", "internal"}, {"total", 5}}}).status, 200);
  EXPECT_EQ(l7_denied_.value({"x", "internal"}), 5) << "totals: what they grew by is added";

  // Bad reports name what is wrong and count nothing.
  for (const json& bad :
       {json{{"export", "x"}, {"peer", "internal"}, {"total", -1}},
        json{{"export", "x"}, {"peer", "internal"}, {"total", 1.5}}, json{{"export", "x"}, {"total", 6}}}) {
    auto b = report({bad});
    EXPECT_EQ(b.status, 400) << bad.dump();
    EXPECT_NE(b.body.find("denials"), std::string::npos) << b.body;
  }
  json too_many = json::array();
  for (size_t i = 0; i <= gateway::kMostL7SeriesPerReport; ++i)
    too_many.push_back({{"export", "x"}, {"peer", "internal"}, {"total", 6}});
  EXPECT_EQ(report(too_many).status, 400);
  auto no_instance = call("POST", "/api/v1/routes/l7-denials", "gw", json{{"denials", json::array()}}.dump());
  EXPECT_EQ(no_instance.status, 400);
  EXPECT_NE(no_instance.body.find("instance"), std::string::npos) << no_instance.body;
  EXPECT_EQ(l7_denied_.value({"x", "internal"}), 5);
}

TEST_F(AdminApiTest, ConsoleIsServedWithStrictHeadersAndRevalidatedByETag) {
  const auto page = call("GET", "/ui/", "");  // no token: the page itself holds nothing
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<label for=\"sign-in-token\">Token</label>"), std::string::npos);
  const auto csp = header_of(page, "Content-Security-Policy").value_or("");
  for (const char* directive :
       {"default-src 'none'", "script-src 'self';", "style-src 'self';", "frame-ancestors 'none'"})
    EXPECT_NE(csp.find(directive), std::string::npos) << directive << " missing from " << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
  EXPECT_EQ(header_of(page, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(header_of(page, "Referrer-Policy"), "no-referrer");

  // Every file the page loads is there, with its type; a known version is not sent again.
  for (const auto& [file, type] : std::map<std::string, std::string>{{"app.js", "text/javascript; charset=utf-8"},
                                                                     {"console.css", "text/css; charset=utf-8"},
                                                                     {"icon.svg", "image/svg+xml"}}) {
    const auto r = call("GET", "/ui/" + file, "");
    ASSERT_EQ(r.status, 200) << file;
    EXPECT_EQ(r.content_type, type) << file;
    const auto etag = header_of(r, "ETag");
    ASSERT_TRUE(etag) << file;
    const auto again = call("GET", "/ui/" + file, "", "", "", {{"if-none-match", *etag}});
    EXPECT_EQ(again.status, 304) << file;
    EXPECT_TRUE(again.body.empty()) << file;
  }
  // Errors under /ui/ carry the same headers.
  const auto missing = call("GET", "/ui/../tokens.json", "");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(header_of(missing, "Content-Security-Policy"));
  const auto post = call("POST", "/ui/", "");
  EXPECT_EQ(post.status, 405);
  EXPECT_TRUE(header_of(post, "Content-Security-Policy"));
  const auto bare = call("GET", "/ui", "");
  EXPECT_EQ(bare.status, 308);
  EXPECT_EQ(header_of(bare, "Location"), "/ui/");
}

TEST_F(AdminApiTest, ApiAnswersAreNeverCachedButTheConsoleRevalidates) {
  for (const auto& r : {call("GET", "/api/v1/exports", "victor"), call("GET", "/api/v1/exports", ""),
                        call("GET", "/api/v1/nothing", "victor")}) {
    EXPECT_EQ(header_of(r, "Cache-Control"), "no-store") << r.status;
  }
  EXPECT_EQ(header_of(call("GET", "/ui/app.js", ""), "Cache-Control"), "no-cache");
}

TEST_F(AdminApiTest, WhoamiNamesTheCallerAndEveryRoleItHolds) {
  auto me = json::parse(call("GET", "/api/v1/whoami", "alice").body);
  EXPECT_EQ(me["name"], "alice");
  EXPECT_EQ(me["roles"], json({"viewer", "requester"}));  // requester includes viewer
  EXPECT_EQ(me["domain"], "pci");
  EXPECT_EQ(json::parse(call("GET", "/api/v1/whoami", "gw").body)["roles"], json({"gateway"}));
  EXPECT_EQ(call("GET", "/api/v1/whoami", "").status, 401);
}

TEST_F(AdminApiTest, AuditVerifyReportsAnIntactChainAndNamesTheFirstBadEntry) {
  request_export();
  request_export({{"alias", "second"}});
  auto ok = json::parse(call("GET", "/api/v1/audit/verify", "victor").body);
  EXPECT_EQ(ok["ok"], true);
  EXPECT_EQ(ok["entries"], 2);
  EXPECT_EQ(ok["head"], json::parse(call("GET", "/api/v1/audit/head", "victor").body));
  EXPECT_TRUE(ok["problem"].is_null());
  EXPECT_EQ(ok["checked_at"], format_rfc3339(clock_.now()));

  // A caller asking again at once gets the last report: the chain is walked at most every 10 s.
  db_->execute("UPDATE audit SET actor = 'mallory' WHERE seq = 1");
  clock_.advance(std::chrono::seconds(9));
  EXPECT_EQ(json::parse(call("GET", "/api/v1/audit/verify", "victor").body), ok);
  clock_.advance(std::chrono::seconds(1));
  auto broken = call("GET", "/api/v1/audit/verify", "victor");
  ASSERT_EQ(broken.status, 200);
  auto report = json::parse(broken.body);
  EXPECT_EQ(report["ok"], false);
  EXPECT_NE(report["problem"].get<std::string>().find("entry 1:"), std::string::npos) << report;
  EXPECT_EQ(report["checked_at"], format_rfc3339(clock_.now()));
  EXPECT_EQ(call("GET", "/api/v1/audit/verify", "").status, 401);
}

}  // namespace
}  // namespace meshfed::api
