// A peer that misbehaves, played by an in-process HTTPS server holding dmz's real broker
// certificate: whatever it sends, the importing broker changes nothing and says why.
#include <gtest/gtest.h>
#include <cstdlib>
#include <iostream>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "meshfed/core/text.hpp"
#include "meshfed/store/database.hpp"
#include "approve.hpp"
#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;

class FakePeer {
 public:
  explicit FakePeer(const fs::path& pki)
      : server_(pki / "broker.pem", pki / "broker-key.pem", [this](const http::Request&) {
          std::lock_guard lock(mu_);
          return response_;
        }) {}
  void serve(const std::string& body, int status = 200) {
    std::lock_guard lock(mu_);
    response_ = http::Response{status, "application/json", {}, body, "", {}};
  }
  uint16_t port() const { return server_.port(); }

 private:
  std::mutex mu_;
  // Until a test says what to serve: an error, not an empty catalog the importer would refuse
  // (and audit) before the test began.
  http::Response response_{503, "text/plain", {}, "not serving yet", "", {}};
  HttpsFixture server_;  // last: stopped before what its handler touches goes
};

json good_export(const std::string& id, const std::string& alias) { return testing::catalog_export(id, alias); }

json catalog(json exports, const std::string& domain = "dmz", int64_t revision = 5) {
  return testing::catalog_answer(std::move(exports), domain, revision);
}

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// One peer (pci) is a real broker, the other (dmz) is compromised: whatever dmz serves, the
// importing broker stays up, keeps pci's import, changes nothing of dmz's, and says why.
class HostilePeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dmz_ = std::make_unique<FakePeer>(fed_.dir() / "dmz/pki");
    fed_.broker("pci").start();
    fed_.broker("internal").start();
    auto& internal = fed_.domain("internal");
    for (auto& p : internal.config["peers"]) {
      const std::string d = p["domain"];
      p["url"] = "https://127.0.0.1:" + std::to_string(d == "dmz" ? dmz_->port() : fed_.peer_api_port(d));
    }
    internal.save_config();
    fed_.broker("internal").signal(SIGHUP);
    admin_ = fed_.admin("internal");
  }

  json get(const std::string& target) {
    return api_call(*admin_, "GET", target, fed_.domain("internal").tokens["victor"]).body;
  }
  std::string last_error(const std::string& peer) {
    const json peers = get("/api/v1/peers");
    for (const auto& p : peers["items"]) {
      if (p["domain"] == peer && p["last_error"].is_string()) return p["last_error"];
    }
    return "";
  }
  // The imports as a refused catalog must leave them (last_seen moves with every accepted poll).
  json imports() {
    json items = get("/api/v1/imports")["items"];
    for (auto& i : items) i.erase("last_seen");
    return items;
  }
  std::string state(const std::string& import_id) { return get("/api/v1/imports/" + import_id).value("state", ""); }
  std::string plain_metrics() {
    auto r = admin_->request("GET", "/metrics");
    return r ? r->body : "";
  }

  Federation fed_{std::map<std::string, std::vector<std::string>>{
      {"internal", {"dmz", "pci"}}, {"dmz", {"internal"}}, {"pci", {"internal"}}}};
  std::unique_ptr<FakePeer> dmz_;
  std::unique_ptr<http::HttpsClient> admin_;
};

TEST_F(HostilePeerTest, NoCatalogCrashesOrStallsTheImporterOrTouchesAnotherPeer) {
  const std::string pci_export = request_and_approve(
      fed_, "pci",
      {{"mesh", "default"}, {"service", "payments-api"}, {"port", 8443}, {"peers", {"internal"}}, {"reason", "x"}});
  dmz_->serve(catalog(json::array({good_export("billing-aaaa1111", "billing")})).dump());
  ASSERT_TRUE(wait_until([&] {
    return state("dmz.billing-aaaa1111") == "active" && state("pci." + pci_export) == "active";
  })) << fed_.broker("internal").log();
  const json before = imports();

  json wrong_sni = good_export("billing-aaaa1111", "billing");
  wrong_sni["sni"] = "evil.pci.meshfed";
  json injected = good_export("billing-aaaa1111", "billing");
  injected["protocol"] = "tcp\"}, \"spec\": {\"x\": 1";
  json elsewhere = good_export("billing-aaaa1111", "billing");
  elsewhere["ingress"] = {{"host", "10.99.99.99"}, {"port", 22}};
  json many = json::array();
  for (int i = 0; i < 1001; ++i) many.push_back(good_export("x-" + std::to_string(i), "x" + std::to_string(i)));
  const std::string deep = nested(100000);
  struct Attack {
    std::string body, reason, words;
  };
  const std::vector<Attack> attacks = {
      {"{ this is not json", "json", "not valid JSON"},
      {R"({"api_version": "v1", "domain": )" + deep + "}", "depth", "nested deeper"},
      {R"({"api_version": "v1", "domain": "dmz", "revision": 9, "full": true, "exports": [{"id": )" + deep + "}]}",
       "depth", "nested deeper"},
      {catalog(json::array({good_export("billing-aaaa1111", "billing")}), "pci", 6).dump(), "domain",
       "claims domain \"pci\""},
      {catalog(json::array({good_export("Bad_Id", "billing")}), "dmz", 6).dump(), "field",
       "id is not an RFC 1035 label"},
      {catalog(json::array({good_export("billing-bbbb2222", "Not An Alias")}), "dmz", 6).dump(), "field", "alias"},
      {catalog(json::array({wrong_sni}), "dmz", 6).dump(), "field", "sni"},
      {catalog(json::array({injected}), "dmz", 6).dump(), "field", "protocol"},
      {catalog(many, "dmz", 6).dump(), "count", "more than the 1000 exports"},
      {catalog(json::array({elsewhere}), "dmz", 6).dump(), "ingress", "outside the peer's ingress_cidrs"},
      {R"({"api_version": "v1", "domain": "dmz", "domain": "dmz"})", "json", "twice"},
      {catalog(json::array({good_export("billing-aaaa1111", "billing")}), "dmz", 6).dump() +
           std::string("\0garbage", 8),
       "json", "NUL byte"},
      {std::string(70 * 1024 * 1024, ' '), "size", "exceeds"},
  };
  int runs = 0;
  std::string previous;
  for (const auto& a : attacks) {
    if (::testing::Test::HasFailure()) break;
    dmz_->serve(a.body);
    // A reload restarts the watchers, so the next poll comes now rather than after the backoff
    // the previous refusals built up.
    fed_.broker("internal").signal(SIGHUP);
    EXPECT_TRUE(wait_until([&] { return last_error("dmz").find(a.words) != std::string::npos; }))
        << a.words << "\n"
        << get("/api/v1/peers").dump() << "\n"
        << [&] {  // the newest lines: what happened to this attack
             const std::string log = fed_.broker("internal").log();
             return log.substr(log.size() > 8000 ? log.size() - 8000 : 0);
           }();
    EXPECT_EQ(imports(), before) << a.words;
    EXPECT_EQ(api_call(*admin_, "GET", "/healthz", "").status, 200);
    runs += a.reason != previous;
    previous = a.reason;
  }
  EXPECT_EQ(state("pci." + pci_export), "active");
  EXPECT_NE(fed_.broker("internal").log().find("refused catalog"), std::string::npos);

  // Each run of one reason is audited once, however often the peer re-served it.
  int audited = 0;
  const json audit = get("/api/v1/audit?limit=1000");
  json refusals = json::array();
  for (const auto& e : audit["items"]) {
    if (e["action"] != "peer.catalog_refused") continue;
    ++audited;
    refusals.push_back(e["details"]);
  }
  EXPECT_EQ(audited, runs) << refusals.dump(1);
  auto metrics = plain_metrics();
  EXPECT_NE(metrics.find(R"(meshfed_peer_catalog_refusals_total{peer="dmz",reason="depth"})"), std::string::npos);
  EXPECT_NE(metrics.find(R"(meshfed_peer_catalog_refusals_total{peer="dmz",reason="ingress"})"), std::string::npos);

  // The crash used to repeat on every restart while the peer kept serving it.
  dmz_->serve(R"({"api_version": "v1", "domain": )" + deep + "}");
  fed_.broker("internal").stop();
  fed_.broker("internal").start();
  admin_ = fed_.admin("internal");
  EXPECT_TRUE(wait_until([&] { return last_error("dmz").find("nested deeper") != std::string::npos; }));
  EXPECT_EQ(state("pci." + pci_export), "active");
}

TEST_F(HostilePeerTest, APeerTakesOnlyItsShareOfEgressPorts) {
  // The test domains' egress ranges hold 10 ports; two peers get 5 each.
  json exports = json::array();
  for (int i = 0; i < 10; ++i) exports.push_back(good_export("x-" + std::to_string(i), "x" + std::to_string(i)));
  dmz_->serve(catalog(exports).dump());
  ASSERT_TRUE(wait_until([&] { return get("/api/v1/imports")["items"].size() == 10; }))
      << fed_.broker("internal").log();
  int active = 0, failed = 0;
  const json imports = get("/api/v1/imports");
  for (const auto& i : imports["items"]) {
    active += i["state"] == "active";
    if (i["state"] == "failed") {
      ++failed;
      EXPECT_EQ(i["reason"], "peer dmz holds all 5 of its egress ports (peers[].max_egress_ports)");
    }
  }
  EXPECT_EQ(active, 5);
  EXPECT_EQ(failed, 5);
  const std::string pci_export = request_and_approve(
      fed_, "pci",
      {{"mesh", "default"}, {"service", "payments-api"}, {"port", 8443}, {"peers", {"internal"}}, {"reason", "x"}});
  ASSERT_TRUE(wait_until([&] { return state("pci." + pci_export) == "active"; })) << fed_.broker("internal").log();
  EXPECT_TRUE(get("/api/v1/imports/pci." + pci_export)["local"].is_object());
  // dmz drops half of its exports: the waiting ones get the freed ports at once.
  exports.erase(exports.begin(), exports.begin() + 5);
  dmz_->serve(catalog(exports, "dmz", 6).dump());
  EXPECT_TRUE(wait_until([&] {
    for (int i = 5; i < 10; ++i) {
      if (state("dmz.x-" + std::to_string(i)) != "active") return false;
    }
    return true;
  })) << get("/api/v1/imports").dump();
}

// Growth under a churning peer: dmz serves a full catalog of 1,000 fresh export ids every second
// (each answer replaces the last: 1,000 imports arriving and 1,000 leaving). The change budget
// holds it: the importer's state folder grows by what one burst allows and then hardly at all.
// MESHFED_CHURN_SECONDS runs it longer (docs/reliability.md: 600 s).
TEST(HostilePeer, AChurningPeerGrowsTheImportersStateOnlyAsItsBudgetAllows) {
  Federation fed(std::map<std::string, std::vector<std::string>>{{"internal", {"dmz"}}, {"dmz", {"internal"}}});
  const auto started = std::chrono::steady_clock::now();
  std::atomic<int64_t> answers{0};
  auto answer = [&](const http::Request&) {
    const int64_t second =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
    json exports = json::array();
    for (int i = 0; i < 1000; ++i) {
      const std::string id = "c" + std::to_string(second) + "-" + std::to_string(i);
      exports.push_back(good_export(id, id));
    }
    ++answers;
    return http::Response{200, "application/json", {}, catalog(exports, "dmz", second + 1).dump(), "", {}};
  };
  HttpsFixture dmz(fed.dir() / "dmz/pki/broker.pem", fed.dir() / "dmz/pki/broker-key.pem", answer);
  auto& internal = fed.domain("internal");
  internal.config["peers"][0]["url"] = "https://127.0.0.1:" + std::to_string(dmz.port());
  internal.save_config();
  fed.broker("internal").start();
  auto admin = fed.admin("internal");
  const auto& victor = internal.tokens["victor"];
  auto peer_state = [&] {
    const json peers = api_call(*admin, "GET", "/api/v1/peers", victor).body;
    return peers["items"].empty() ? std::string() : peers["items"][0].value("state", "");
  };
  // The store's size as its pages in use say (the WAL next to it is reused after each
  // checkpoint, so its file size is not growth).
  auto state_bytes = [&] {
    auto db = store::Database::open_read_only(internal.state_dir / "meshfed.db");
    if (!db) return int64_t{-1};
    int64_t bytes = -1;
    (void)(*db)->read([&](store::Reader& tx) -> Status {
      auto pragma = [&](const char* sql) {
        store::Statement s(tx, sql);
        return s.step() ? s.int64(0) : 0;
      };
      bytes = (pragma("PRAGMA page_count") - pragma("PRAGMA freelist_count")) * pragma("PRAGMA page_size");
      return {};
    });
    return bytes;
  };
  ASSERT_TRUE(wait_until([&] { return peer_state() == "flapping"; }, std::chrono::seconds(60)))
      << fed.broker("internal").log();
  const int64_t after_burst = state_bytes();
  const char* env = std::getenv("MESHFED_CHURN_SECONDS");
  const auto run_for = std::chrono::seconds(env ? std::atoll(env) : 60);
  const auto flapping_at = std::chrono::steady_clock::now();
  // Polled, not slept through: the peer must stay flapping the whole time.
  int checks = 0, not_flapping = 0;
  while (std::chrono::steady_clock::now() - flapping_at < run_for) {
    not_flapping += peer_state() != "flapping";
    ++checks;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the polling interval
  }
  const int64_t at_end = state_bytes();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  int64_t flapping_entries = 0, applied_entries = 0;
  const json audit = api_call(*admin, "GET", "/api/v1/audit?limit=1000", victor).body;
  for (const auto& e : audit["items"]) {
    flapping_entries += e["action"] == "peer.flapping";
    applied_entries += e["action"] == "import.catalog_applied";
  }
  const double mb = 1024.0 * 1024.0;
  const double steady_mb_per_day = static_cast<double>(at_end - after_burst) / mb / run_for.count() * 86400;
  std::cout << "churn: " << answers.load() << " answers of 1,000 fresh ids in " << seconds << " s; store "
            << after_burst / mb << " MB in use after the burst, " << at_end / mb << " MB at the end ("
            << (at_end - after_burst) / mb << " MB over " << run_for.count() << " s flapping, about "
            << steady_mb_per_day << " MB/day); audit: " << applied_entries << " import.catalog_applied, "
            << flapping_entries << " peer.flapping\n";
  EXPECT_EQ(not_flapping, 0) << "of " << checks << " checks";
  ASSERT_GT(after_burst, 0);
  EXPECT_LE(at_end, int64_t{20} * 1024 * 1024) << "the 10-minute budget, whatever the run's length";
  EXPECT_LE(steady_mb_per_day, 50.0);
  EXPECT_LE(flapping_entries, run_for.count() / 60 + 2) << "one a minute";
}

TEST(HostilePeer, TrickledBodyHitsTheDeadlineAndChangesNothing) {
  Federation fed(std::map<std::string, std::vector<std::string>>{{"internal", {"dmz"}}, {"dmz", {"internal"}}});
  // The trickler, holding dmz's real broker certificate, sends its 73-byte body over ~36 s.
  const fs::path script = fs::path(MESHFED_SOURCE_DIR) / "tests/integration/fixtures/trickle_server.py";
  const std::string cmd = "python3 " + script.string() + " " + (fed.dir() / "dmz/pki/broker.pem").string() + " " +
                          (fed.dir() / "dmz/pki/broker-key.pem").string();
  FILE* trickler = ::popen(cmd.c_str(), "r");
  ASSERT_NE(trickler, nullptr);
  char line[64] = {};
  ASSERT_NE(std::fgets(line, sizeof line, trickler), nullptr);
  const auto fields = split(std::string(line).substr(0, std::string(line).find('\n')), ' ');
  ASSERT_EQ(fields.size(), 2u) << line;
  auto& internal = fed.domain("internal");
  internal.config["peers"][0]["url"] = "https://127.0.0.1:" + fields[0];
  internal.config["sync"]["wait_s"] = 1;  // the watcher's deadline is wait_s + 15 s
  internal.save_config();
  fed.broker("internal").start();
  auto admin = fed.admin("internal");
  const bool reported = wait_until(
      [&] {
        const json peers = api_call(*admin, "GET", "/api/v1/peers", internal.tokens["victor"]).body;
        const json& last_error = peers["items"][0]["last_error"];
        return last_error.is_string() && last_error.get<std::string>().find("deadline") != std::string::npos;
      },
      std::chrono::seconds(40));
  EXPECT_TRUE(reported) << fed.broker("internal").log();
  const json peers = api_call(*admin, "GET", "/api/v1/peers", internal.tokens["victor"]).body;
  EXPECT_EQ(peers["items"][0]["revision"], 0);  // nothing was applied
  EXPECT_EQ(api_call(*admin, "GET", "/api/v1/imports", internal.tokens["victor"]).body["items"].size(), 0u);
  fed.broker("internal").stop();
  ::kill(static_cast<pid_t>(std::stol(fields[1])), SIGTERM);
  ::pclose(trickler);
}

TEST(PeerRemoval, RemovedPeerIsWithdrawnAndNoLongerServedAndComesBackWhenReadded) {
  Federation fed(std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}});
  fed.start_all();
  fed.connect();
  auto pci = fed.admin("pci");
  auto internal = fed.admin("internal");
  auto& pd = fed.domain("pci");
  auto& id_ = fed.domain("internal");
  auto r = api_call(
      *pci, "POST", "/api/v1/exports", pd.tokens["alice"],
      json{{"mesh", "default"}, {"service", "payments-api"}, {"port", 8443}, {"peers", {"internal"}}, {"reason", "x"}});
  ASSERT_EQ(r.status, 201);
  const std::string import_id = "pci." + r.body["id"].get<std::string>();
  ASSERT_EQ(api_call(*pci, "POST", "/api/v1/exports/" + r.body["id"].get<std::string>() + "/approve", pd.tokens["bob"])
                .status,
            200);
  auto state = [&] {
    return api_call(*internal, "GET", "/api/v1/imports/" + import_id, id_.tokens["victor"]).body.value("state", "");
  };
  ASSERT_TRUE(wait_until([&] { return state() == "active"; }));

  // internal drops pci from its config: the import is withdrawn, reason kept.
  const json peers = id_.config["peers"];
  id_.config["peers"] = json::array();
  id_.save_config();
  fed.broker("internal").signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return state() == "withdrawn"; }));
  EXPECT_EQ(api_call(*internal, "GET", "/api/v1/imports/" + import_id, id_.tokens["victor"]).body["reason"],
            "peer removed");

  // pci drops internal: internal's broker is no longer served pci's catalog.
  const json pci_peers = pd.config["peers"];
  pd.config["peers"] = json::array();
  pd.save_config();
  fed.broker("pci").signal(SIGHUP);
  http::ClientOptions o = http::ClientOptions::verifying("127.0.0.1", fed.peer_api_port("pci"), pd.dir / "pki/ca.pem");
  o.cert_file = id_.dir / "pki/broker.pem";
  o.key_file = id_.dir / "pki/broker-key.pem";
  std::string refusal;
  EXPECT_TRUE(wait_until([&] {
    auto c = http::HttpsClient::create(o);
    auto res = (*c)->request("GET", "/federation/v1/catalog");
    refusal = res ? "HTTP " + std::to_string(res->status) : res.error().message;
    // Refused by a running pci: internal's CA is gone from pci's trust (a TLS alert, which in
    // TLS 1.3 arrives with the first read) or the peer is unknown (403). A dead broker
    // (connection refused) is neither.
    return (res && res->status == 403) || (!res && res.error().message.find(" alert ") != std::string::npos);
  })) << refusal;
  EXPECT_TRUE(fed.broker("pci").running());

  // Both add each other back: the import returns, same id.
  pd.config["peers"] = pci_peers;
  pd.save_config();
  fed.broker("pci").signal(SIGHUP);
  id_.config["peers"] = peers;
  id_.save_config();
  fed.broker("internal").signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] { return state() == "active"; })) << fed.broker("internal").log();
}

}  // namespace
}  // namespace meshfed::testing
