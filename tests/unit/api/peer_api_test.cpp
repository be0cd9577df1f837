// The peer API's gate in front of every resource: who the caller is, and whether it is
// quarantined; a quarantine that cannot be read refuses, as an explicit one does.
#include "meshfed/api/peer_api.hpp"

#include <gtest/gtest.h>

#include "meshfed/core/clock.hpp"
#include "support/test_support.hpp"

namespace meshfed::api {
namespace {

class PeerApiTest : public ::testing::Test {
 protected:
  http::Response get(const std::string& peer, const std::string& target) {
    http::Request r;
    r.method = "GET";
    r.target = target;
    EXPECT_TRUE(http::parse_target(r.target, r.path, r.query));
    r.peer = peer;
    r.remote = "127.0.0.1:1";
    return api_.handle(r);
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Database> db_ = std::move(store::Database::open(dir_ / "p.db")).value();
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  federation::Catalog catalog_{*db_, clock_};
  metrics::Registry registry_;
  std::map<std::string, Result<bool>> quarantine_{{"dmz", false}, {"internal", true}};
  PeerApi api_{PeerApiDeps{catalog_, registry_, [] { return std::string("pci"); },
                           [] {
                             return federation::IngressAddress{"127.0.0.1", 15443};
                           },
                           [this](const std::string& p) { return quarantine_.count(p) > 0; },
                           [this](const std::string& p) { return quarantine_.at(p); },
                           [](const std::string& p) { return "# exported to " + p + "\n"; }}};
};

TEST_F(PeerApiTest, AQuarantineThatCannotBeReadRefusesThePeer) {
  EXPECT_EQ(get("dmz", "/federation/v1/metrics").status, 200);
  EXPECT_EQ(get("internal", "/federation/v1/metrics").status, 403);  // quarantined
  quarantine_.at("dmz") = make_error(ErrorCode::kUnavailable, "cannot read whether peer dmz is quarantined");
  for (const auto* target : {"/federation/v1/metrics", "/federation/v1/catalog"}) {
    const auto res = get("dmz", target);
    EXPECT_EQ(res.status, 503) << target;
    EXPECT_NE(res.body.find("cannot read whether peer dmz is quarantined; refusing until it can be read"),
              std::string::npos)
        << res.body;
    EXPECT_EQ(res.body.find("exported"), std::string::npos) << target;
  }
  EXPECT_NE(registry_.expose().find("meshfed_peer_api_refused_total{peer=\"dmz\",reason=\"undecided\"} 2"),
            std::string::npos);
}

}  // namespace
}  // namespace meshfed::api
