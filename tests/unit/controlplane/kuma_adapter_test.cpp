// The Kuma adapter's life: started and stopped explicitly, one kept-alive client for as long
// as its settings hold. (What it reads and writes is tested against the emulator, tests/kuma.)
#include "meshfed/controlplane/kuma_adapter.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::controlplane {
namespace {

// Just enough of a control plane for a round: its index, one mesh with MeshServices, empty
// lists, and no MeshExternalService of any name. It remembers where each request came from.
class QuietControlPlane {
 public:
  explicit QuietControlPlane(const std::filesystem::path& pki)
      : server_(pki / "broker.pem", pki / "broker-key.pem", [this](const http::Request& r) {
          {
            std::lock_guard lock(mu_);
            if (r.path == "/") ++rounds_;
            if (r.method != "GET") ++writes_;
            remotes_.insert(r.remote);
          }
          std::string body = R"({"items": [], "next": null, "total": 0})";
          if (r.path == "/") {
            std::lock_guard lock(mu_);
            body = index_;
          }
          if (r.path == "/meshes/default") body = R"({"name": "default", "meshServices": {"mode": "Exclusive"}})";
          if (r.method == "GET" && r.path.find("/meshexternalservices/") != std::string::npos) {
            return http::Response{
                404, "application/json", {}, R"({"title": "Not found", "details": "no such resource"})", "", {}};
          }
          return http::Response{200, "application/json", {}, body, "", {}};
        }) {}
  uint16_t port() const { return server_.port(); }
  void set_index(std::string body) {
    std::lock_guard lock(mu_);
    index_ = std::move(body);
  }
  int rounds() const {
    std::lock_guard lock(mu_);
    return rounds_;
  }
  int writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }
  size_t connections() const {
    std::lock_guard lock(mu_);
    return remotes_.size();
  }

 private:
  mutable std::mutex mu_;
  int rounds_ = 0;
  int writes_ = 0;  // requests other than GET
  std::string index_ = R"({"version": "2.12.0"})";
  std::set<std::string> remotes_;  // one per connection
  testing::HttpsFixture server_;   // last: stopped before what its handler touches goes
};

class KumaAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::make_pki(dir_ / "pki", "pci");
    cp_ = std::make_unique<QuietControlPlane>(dir_ / "pki");
    cfg_.url = "https://127.0.0.1:" + std::to_string(cp_->port());
    cfg_.ca_file = dir_ / "pki" / "ca.pem";
    cfg_.poll_interval = std::chrono::seconds(3600);  // rounds happen when the test asks
  }

  // Asks for a round and waits until the control plane has seen it begin.
  bool one_more_round(KumaAdapter& adapter) {
    const int before = cp_->rounds();
    (void)adapter.refresh_inventory(true);
    return testing::wait_until([&] { return cp_->rounds() > before && adapter.health().ready; });
  }

  testing::TempDir dir_;
  std::unique_ptr<QuietControlPlane> cp_;
  config::KumaControlPlane cfg_;
};

TEST_F(KumaAdapterTest, NothingHappensBeforeStartAndNothingAfterStop) {
  KumaAdapter adapter(cfg_, "");
  (void)adapter.refresh_inventory(true);
  adapter.stop();  // never started: returns at once
  EXPECT_EQ(cp_->rounds(), 0);

  KumaAdapter started(cfg_, "");
  started.start();
  ASSERT_TRUE(testing::wait_until([&] { return cp_->rounds() >= 1; }));
  started.stop();
  const int after_stop = cp_->rounds();
  (void)started.refresh_inventory(true);  // a wake after stop starts no round
  EXPECT_EQ(cp_->rounds(), after_stop);
}

TEST_F(KumaAdapterTest, RoundsShareOneConnectionUntilTheSettingsChange) {
  KumaAdapter adapter(cfg_, "");
  adapter.start();
  ASSERT_TRUE(testing::wait_until([&] { return cp_->rounds() >= 1; }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(one_more_round(adapter));
  EXPECT_EQ(cp_->connections(), 1u) << "a new client (TLS context, handshake) every round";

  adapter.reconfigure(cfg_, "new-token");  // new settings: a new client
  ASSERT_TRUE(one_more_round(adapter));
  EXPECT_EQ(cp_->connections(), 2u);
  adapter.stop();
}

TEST_F(KumaAdapterTest, AnAnswerOfTheWrongShapeFailsTheRoundAndTheAdapterCarriesOn) {
  cp_->set_index(R"({"version": 212})");  // a number where the contract has a string
  KumaAdapter adapter(cfg_, "");
  adapter.start();
  ASSERT_TRUE(testing::wait_until([&] { return cp_->rounds() >= 2; }));  // the thread lived to retry
  const auto h = adapter.health();
  EXPECT_FALSE(h.ready);
  EXPECT_NE(h.detail.find("does not follow the Kuma API"), std::string::npos) << h.detail;
  EXPECT_GE(h.events.at("errors_invalid_answer"), 1);
  cp_->set_index(R"({"version": "2.12.0"})");
  EXPECT_TRUE(one_more_round(adapter));
  adapter.stop();
}

// A replica that does not lead reads the inventory and writes nothing, whatever it was handed;
// once it leads, the desired state it was handed is applied.
TEST_F(KumaAdapterTest, AFollowerReadsTheInventoryAndWritesNothingUntilItLeads) {
  KumaAdapter adapter(cfg_, "");
  adapter.set_writes(false);
  adapter.start();
  DesiredState desired;
  desired.imports.push_back({"dmz.e1", "dmz", "billing", "tcp", "127.0.0.1", 16000, 9000});
  (void)adapter.apply(desired);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(one_more_round(adapter));
  EXPECT_EQ(cp_->writes(), 0);
  adapter.set_writes(true);
  EXPECT_TRUE(testing::wait_until([&] { return cp_->writes() > 0; }));
  adapter.stop();
}

}  // namespace
}  // namespace meshfed::controlplane
