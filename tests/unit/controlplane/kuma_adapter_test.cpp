// The Kuma adapter's life: started and stopped explicitly, one kept-alive client for as long
// as its settings hold. (What it reads and writes is tested against the emulator, tests/kuma.)
#include "meshfed/controlplane/kuma_adapter.hpp"

#include <gtest/gtest.h>

#include <atomic>
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
            if (r.method != "GET") {
              ++writes_;
              write_terms_.insert(r.header("x-meshfed-term").value_or("none"));
            }
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
  // The X-Meshfed-Term of each write ("none" without one).
  std::multiset<std::string> write_terms() const {
    std::lock_guard lock(mu_);
    return write_terms_;
  }
  size_t connections() const {
    std::lock_guard lock(mu_);
    return remotes_.size();
  }

 private:
  mutable std::mutex mu_;
  int rounds_ = 0;
  int writes_ = 0;  // requests other than GET
  std::multiset<std::string> write_terms_;
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

// A term whose answers the test sets: whether the store still names it (`current`) and whether
// its lease lets a write go (`writable`, counted down per write).
struct ScriptedTerm {
  std::atomic<bool> current{true};
  std::atomic<int> writable{1 << 30};
  std::atomic<int> confirmations{0};
  WriteTerm as(int64_t term) {
    return {term,
            [this]() -> Status {
              ++confirmations;
              if (!current) return make_error(ErrorCode::kUnavailable, "term over");
              return {};
            },
            [this] { return writable.fetch_sub(1) > 0; }};
  }
};

DesiredState imports(int n) {
  DesiredState desired;
  for (int i = 1; i <= n; ++i) {
    desired.imports.push_back(
        {"dmz.e" + std::to_string(i), "dmz", "billing-" + std::to_string(i), "tcp", "127.0.0.1", 16000 + i, 9000});
  }
  return desired;
}

// A replica that does not lead reads the inventory and writes nothing, whatever it was handed;
// once it leads, the desired state it was handed is applied, each write carrying its term.
TEST_F(KumaAdapterTest, AFollowerReadsTheInventoryAndWritesNothingUntilItLeads) {
  KumaAdapter adapter(cfg_, "");
  adapter.set_writes(std::nullopt);
  adapter.start();
  (void)adapter.apply(imports(1));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(one_more_round(adapter));
  EXPECT_EQ(cp_->writes(), 0);
  ScriptedTerm term;
  adapter.set_writes(term.as(7));
  EXPECT_TRUE(testing::wait_until([&] { return cp_->writes() > 0; }));
  adapter.stop();
  const auto terms = cp_->write_terms();
  EXPECT_EQ(terms.count("7"), terms.size());
  EXPECT_GE(term.confirmations, 1);
}

// A term the store no longer names writes nothing in its round; one whose lease runs out in the
// middle of a round sends no further write.
TEST_F(KumaAdapterTest, ATermThatEndedWritesNothingAndOneEndingMidRoundStopsThere) {
  KumaAdapter adapter(cfg_, "");
  ScriptedTerm term;
  term.current = false;
  adapter.set_writes(term.as(3));
  adapter.start();
  (void)adapter.apply(imports(3));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(one_more_round(adapter));
  EXPECT_EQ(cp_->writes(), 0);
  EXPECT_GE(adapter.health().events.at("rounds_fenced"), 2);

  term.current = true;
  term.writable = 2;  // the round may write, one MeshExternalService goes; then the lease is over
  ASSERT_TRUE(one_more_round(adapter));
  ASSERT_TRUE(testing::wait_until([&] { return adapter.health().events.count("errors_fenced") > 0; }));
  adapter.stop();
  EXPECT_EQ(cp_->writes(), 1);
}

}  // namespace
}  // namespace meshfed::controlplane
