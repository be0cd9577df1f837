// A peer that misbehaves, played by an in-process HTTPS server holding dmz's real broker
// certificate: whatever it sends, the importing broker changes nothing and says why.
#include <gtest/gtest.h>
#include <signal.h>

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "meshfed/core/text.hpp"
#include "meshfed/http/server.hpp"
#include "meshfed/http/tls.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;

class FakePeer {
 public:
  explicit FakePeer(const fs::path& pki) {
    auto ctx = http::make_server_context({pki / "broker.pem", pki / "broker-key.pem", true, nullptr, nullptr});
    ctx_ = *ctx;
    server_ = std::make_unique<http::HttpsServer>(
        io_, [this] { return ctx_; },
        [this](const http::Request&) {
          std::lock_guard lock(mu_);
          ++calls_;
          return response_;
        },
        [](const Error& e) { return http::Response{500, "text/plain", {}, e.message, "", {}}; },
        [](const std::string&, std::function<void()> job) { job(); });
    EXPECT_TRUE(server_->listen({"127.0.0.1", 0}).ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakePeer() {
    boost::asio::post(io_, [this] { server_->stop(); });
    io_.stop();
    thread_.join();
  }
  void serve(const std::string& body, int status = 200) {
    std::lock_guard lock(mu_);
    response_ = http::Response{status, "application/json", {}, body, "", {}};
  }
  uint16_t port() const { return server_->port(); }

 private:
  boost::asio::io_context io_;
  std::shared_ptr<http::TlsContext> ctx_;
  std::unique_ptr<http::HttpsServer> server_;
  std::thread thread_;
  std::mutex mu_;
  http::Response response_;
  int calls_ = 0;
};

json good_export(const std::string& id, const std::string& alias) {
  return {{"id", id},          {"alias", alias},       {"mesh", "default"},    {"service", "billing"},
          {"port", 9000},      {"protocol", "tcp"},    {"sni", id + ".dmz.meshfed"},
          {"ingress", {{"host", "ingress.dmz.test"}, {"port", 15443}}}, {"metrics", json::array()},
          {"proxy_protocol", false}, {"approved_at", "2026-01-01T00:00:00.000Z"}, {"expires_at", "2099-01-01T00:00:00.000Z"}};
}

json catalog(json exports, const std::string& domain = "dmz", int64_t revision = 5) {
  return {{"api_version", "v1"}, {"domain", domain}, {"revision", revision}, {"full", true}, {"exports", std::move(exports)}};
}

TEST(HostilePeer, NothingChangesAndTheProblemIsReported) {
  Federation fed(std::map<std::string, std::vector<std::string>>{{"internal", {"dmz"}}, {"dmz", {"internal"}}});
  FakePeer dmz(fed.dir() / "dmz/pki");
  dmz.serve(catalog({good_export("billing-aaaa1111", "billing")}).dump());
  auto& internal = fed.domain("internal");
  fed.broker("internal").start();
  internal.config["peers"][0]["url"] = "https://127.0.0.1:" + std::to_string(dmz.port());
  internal.save_config();
  fed.broker("internal").signal(SIGHUP);
  auto admin = fed.admin("internal");
  auto get = [&](const std::string& target) { return api_call(*admin, "GET", target, internal.tokens["victor"]).body; };
  ASSERT_TRUE(wait_until([&] { return get("/api/v1/imports/dmz.billing-aaaa1111").value("state", "") == "active"; }))
      << fed.broker("internal").log();
  const json before = get("/api/v1/imports");

  json wrong_sni = good_export("billing-aaaa1111", "billing");
  wrong_sni["sni"] = "evil.pci.meshfed";
  const std::vector<std::pair<std::string, std::string>> attacks = {
      {"{ this is not json", "not valid JSON"},
      {catalog({good_export("billing-aaaa1111", "billing")}, "pci", 6).dump(), "claims domain \"pci\""},
      {catalog({good_export("Bad_Id", "billing")}, "dmz", 6).dump(), "id is not a DNS label"},
      {catalog({good_export("billing-bbbb2222", "Not An Alias")}, "dmz", 6).dump(), "alias"},
      {catalog({wrong_sni}, "dmz", 6).dump(), "sni"},
      {std::string(70 * 1024 * 1024, ' '), "body limit"},
  };
  for (const auto& [body, expect] : attacks) {
    if (::testing::Test::HasFailure()) break;
    dmz.serve(body);
    EXPECT_TRUE(wait_until([&] {
      const json peers = get("/api/v1/peers");
      for (const auto& p : peers["items"]) {
        if (p["domain"] == "dmz" && p["last_error"].is_string() &&
            p["last_error"].get<std::string>().find(expect) != std::string::npos) {
          return true;
        }
      }
      return false;
    })) << expect << "\n" << get("/api/v1/peers").dump() << "\n" << fed.broker("internal").log().substr(0, 6000);
    EXPECT_EQ(get("/api/v1/imports"), before) << expect;
  }
  EXPECT_EQ(get("/api/v1/imports/dmz.billing-aaaa1111")["state"], "active");
  EXPECT_NE(fed.broker("internal").log().find("rejected catalog"), std::string::npos);
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
  const bool reported = wait_until([&] {
    const json peers = api_call(*admin, "GET", "/api/v1/peers", internal.tokens["victor"]).body;
    const json& last_error = peers["items"][0]["last_error"];
    return last_error.is_string() && last_error.get<std::string>().find("deadline") != std::string::npos;
  }, std::chrono::seconds(40));
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
  auto r = api_call(*pci, "POST", "/api/v1/exports", pd.tokens["alice"],
                    json{{"mesh", "default"}, {"service", "payments-api"}, {"port", 8443}, {"peers", {"internal"}}, {"reason", "x"}});
  ASSERT_EQ(r.status, 201);
  const std::string import_id = "pci." + r.body["id"].get<std::string>();
  ASSERT_EQ(api_call(*pci, "POST", "/api/v1/exports/" + r.body["id"].get<std::string>() + "/approve", pd.tokens["bob"]).status, 200);
  auto state = [&] { return api_call(*internal, "GET", "/api/v1/imports/" + import_id, id_.tokens["victor"]).body.value("state", ""); };
  ASSERT_TRUE(wait_until([&] { return state() == "active"; }));

  // internal drops pci from its config: the import is withdrawn, reason kept.
  const json peers = id_.config["peers"];
  id_.config["peers"] = json::array();
  id_.save_config();
  fed.broker("internal").signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return state() == "withdrawn"; }));
  EXPECT_EQ(api_call(*internal, "GET", "/api/v1/imports/" + import_id, id_.tokens["victor"]).body["reason"],
            "peer removed from config");

  // pci drops internal: internal's broker is no longer served pci's catalog.
  const json pci_peers = pd.config["peers"];
  pd.config["peers"] = json::array();
  pd.save_config();
  fed.broker("pci").signal(SIGHUP);
  http::ClientOptions o = http::ClientOptions::verifying("127.0.0.1", fed.peer_api_port("pci"), pd.dir / "pki/ca.pem");
  o.cert_file = id_.dir / "pki/broker.pem";
  o.key_file = id_.dir / "pki/broker-key.pem";
  EXPECT_TRUE(wait_until([&] {
    auto c = http::HttpsClient::create(o);
    auto res = (*c)->request("GET", "/federation/v1/catalog");
    return !res.ok() || res->status == 403;
  }));

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
