#include "meshfed/controlplane/static_adapter.hpp"

#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace meshfed::controlplane {
namespace {

const char* kTwo = R"({"services": [
  {"mesh": "default", "name": "payments-api", "address": "10.0.0.1", "ports": [{"port": 8443, "protocol": "tcp"}]},
  {"mesh": "default", "name": "ledger", "zone": "eu-1", "address": "10.0.0.2", "ports": [{"port": 5432}],
   "labels": {"team": "finance"}}]})";

TEST(StaticAdapter, LoadsInventoryAndReportsHealth) {
  testing::TempDir dir;
  testing::write_file(dir / "inv.json", kTwo);
  StaticAdapter a(dir / "inv.json", dir / "imports");
  EXPECT_FALSE(a.health().ready);
  ASSERT_TRUE(a.refresh_inventory(true).ok());
  EXPECT_TRUE(a.health().ready);
  auto inv = a.inventory();
  ASSERT_EQ(inv->services.size(), 2u);
  const auto* ledger = inv->find("default", "ledger");
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->zone, "eu-1");
  EXPECT_EQ(ledger->ports[0].protocol, "tcp");
  EXPECT_EQ(ledger->labels.at("team"), "finance");
}

TEST(StaticAdapter, BrokenFileKeepsLastGoodInventoryAndSaysWhy) {
  testing::TempDir dir;
  testing::write_file(dir / "inv.json", kTwo);
  StaticAdapter a(dir / "inv.json", dir / "imports");
  ASSERT_TRUE(a.refresh_inventory(true).ok());
  testing::write_file(dir / "inv.json", R"({"services": [{"mesh": "default"}]})");
  auto st = a.refresh_inventory(true);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("services[0].name"), std::string::npos) << st.error().message;
  EXPECT_EQ(a.inventory()->services.size(), 2u);
  const auto h = a.health();
  EXPECT_TRUE(h.ready);
  EXPECT_NE(h.detail.find("invalid"), std::string::npos);
  EXPECT_EQ(h.inventory_errors, 1);
}

TEST(StaticAdapter, ReloadsOnlyWhenTheFileChanges) {
  testing::TempDir dir;
  testing::write_file(dir / "inv.json", kTwo);
  StaticAdapter a(dir / "inv.json", dir / "imports");
  ASSERT_TRUE(a.refresh_inventory(false).ok());
  auto before = a.inventory();
  ASSERT_TRUE(a.refresh_inventory(false).ok());
  EXPECT_EQ(a.inventory(), before);  // unchanged file: same snapshot
  testing::write_file(dir / "inv.json", R"({"services": []})");
  ASSERT_TRUE(a.refresh_inventory(false).ok());
  EXPECT_TRUE(a.inventory()->services.empty());
}

TEST(ParseInventory, RejectsDuplicatesUnknownKeysAndBadPorts) {
  auto inv = parse_inventory(R"({"services": [
    {"mesh": "m", "name": "a", "address": "x", "ports": [{"port": 0}], "color": "red"},
    {"mesh": "m", "name": "a", "address": "x", "ports": [{"port": 80}]}]})");
  ASSERT_FALSE(inv.ok());
  std::set<std::string> fields;
  for (const auto& f : inv.error().fields) fields.insert(f.field);
  EXPECT_EQ(fields, (std::set<std::string>{"services[0].ports[0].port", "services[0].color", "services[1]"}));
}

}  // namespace
}  // namespace meshfed::controlplane
