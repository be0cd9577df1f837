#include "app/snapshot.hpp"

#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace meshfed::app {
namespace {

config::Config config_of(const testing::DomainFixture& d) {
  d.save_config();
  auto cfg = config::load_config(d.config_file);
  EXPECT_TRUE(cfg.ok()) << (cfg ? "" : config::format_errors(cfg.error()));
  return std::move(cfg).value();
}

TEST(Snapshot, LoadsEveryFileTheConfigNamesAndDerivesEachPartsSettings) {
  testing::TempDir dir;
  auto d = testing::make_domain(dir.path(), "pci", {"dmz", "internal"});
  d.config["peers"][0]["source_cidrs"] = {"10.1.0.0/16"};
  d.config["peers"][1]["source_cidrs"] = {"192.0.2.7/32"};
  auto s = load_snapshot(config_of(d));
  ASSERT_TRUE(s.ok()) << s.error().message;
  const Snapshot& snap = **s;
  EXPECT_EQ(snap.config.domain, "pci");
  ASSERT_TRUE(snap.tokens && snap.admin_tls && snap.peer_tls && snap.peer_trust);
  EXPECT_EQ(snap.peer_domains, (std::set<std::string>{"dmz", "internal"}));
  EXPECT_GT(snap.expiries.broker, to_unix_ms(SystemClock().now()) / 1000);
  EXPECT_EQ(snap.expiries.peer_ca.size(), 2u);
  EXPECT_EQ(snap.workflow_settings().peers, snap.peer_domains);
  EXPECT_EQ(snap.route_inputs().peers, snap.peer_domains);
  EXPECT_EQ(snap.import_settings().peers.size(), 2u);
  EXPECT_EQ(snap.metrics_import_settings().peers.size(), 2u);
  EXPECT_TRUE(snap.source_admitted("10.1.2.3"));
  EXPECT_TRUE(snap.source_admitted("192.0.2.7"));
  EXPECT_FALSE(snap.source_admitted("192.0.2.8"));
  EXPECT_FALSE(snap.source_admitted("not an address"));
}

TEST(Snapshot, WithoutSourceRangesThePeerApiAdmitsAnySource) {
  testing::TempDir dir;
  auto s = load_snapshot(config_of(testing::make_domain(dir.path(), "pci", {"dmz"})));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE((*s)->source_admitted("203.0.113.9"));
}

TEST(Snapshot, AFileThatCannotBeReadIsNamedAndNothingIsLoaded) {
  testing::TempDir dir;
  auto d = testing::make_domain(dir.path(), "pci", {"dmz", "internal"});
  std::filesystem::remove(dir / "peers/internal/ca.pem");
  auto s = load_snapshot(config_of(d));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("peers[1].ca_file"), std::string::npos) << s.error().message;
}

TEST(Snapshot, RestartOnlySettingsAreNamedAndTheRunningValuesKept) {
  testing::TempDir dir;
  const auto running = config_of(testing::make_domain(dir.path(), "pci", {"dmz"}));
  auto fresh = running;
  fresh.domain = "pci2";
  fresh.admin.listen.port = 1;
  fresh.peers[0].url = "https://127.0.0.1:2";
  EXPECT_EQ(restart_only_changes(running, fresh), (std::vector<std::string>{"domain", "admin.listen"}));
  const auto kept = keep_restart_only(running, fresh);
  EXPECT_EQ(kept.domain, "pci");
  EXPECT_EQ(kept.admin.listen, running.admin.listen);
  EXPECT_EQ(kept.peers[0].url, "https://127.0.0.1:2");  // a live setting: the reload applies it
  EXPECT_TRUE(restart_only_changes(running, kept).empty());
}

TEST(Snapshot, ReadersKeepTheGenerationTheyHoldWhileANewOneIsPublished) {
  testing::TempDir dir;
  auto d = testing::make_domain(dir.path(), "pci", {"dmz"});
  auto first = load_snapshot(config_of(d));
  ASSERT_TRUE(first.ok());
  PublishedSnapshot published(*first);
  const auto held = published.get();
  d.config["peers"] = nlohmann::json::array();
  auto second = load_snapshot(config_of(d));
  ASSERT_TRUE(second.ok());
  published.publish(*second);
  EXPECT_EQ(held->peer_domains.size(), 1u);  // unchanged under its reader
  EXPECT_TRUE(published.get()->peer_domains.empty());
}

}  // namespace
}  // namespace meshfed::app
