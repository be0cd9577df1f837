#include "meshfed/controlplane/static_adapter.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

namespace meshfed::controlplane {
namespace {

DesiredImport sample_import(const std::string& id, int local_port) {
  return {id, "pci", "payments-api", "tcp", "egress.internal.test", local_port, 8443};
}

TEST(StaticAdapterImports, WritesOneMeshExternalServicePerImportAndRemovesWithdrawnOnes) {
  testing::TempDir dir;
  StaticAdapter a(dir / "inv.json", dir / "imports");
  auto r = a.apply({{}, {sample_import("pci.pay-1", 16000), sample_import("pci.pay-2", 16001)}});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].applied && r[1].applied);
  const auto doc = nlohmann::json::parse(testing::read_file(dir / "imports/meshfed-pci.pay-1.json"));
  EXPECT_EQ(doc["type"], "MeshExternalService");
  EXPECT_EQ(doc["spec"]["endpoints"][0]["address"], "egress.internal.test");
  EXPECT_EQ(doc["spec"]["endpoints"][0]["port"], 16000);
  EXPECT_EQ(doc["spec"]["match"]["type"], "HostnameGenerator");
  EXPECT_EQ(doc["labels"]["meshfed.io/managed-by"], "meshfed");
  const auto mtime = std::filesystem::last_write_time(dir / "imports/meshfed-pci.pay-1.json");
  a.apply({{}, {sample_import("pci.pay-1", 16000)}});  // pay-2 withdrawn; pay-1 unchanged
  EXPECT_FALSE(std::filesystem::exists(dir / "imports/meshfed-pci.pay-2.json"));
  EXPECT_EQ(std::filesystem::last_write_time(dir / "imports/meshfed-pci.pay-1.json"), mtime);  // idempotent
}

// A reconcile touches only what changed (no file read per import); a reload checks every file
// again and puts back one changed by hand.
TEST(StaticAdapterImports, RewritesOnlyWhatChangedAndChecksEveryFileAfterAReload) {
  testing::TempDir dir;
  StaticAdapter a(dir / "inv.json", dir / "imports");
  const DesiredState desired{{}, {sample_import("pci.pay-1", 16000)}};
  ASSERT_TRUE(a.apply(desired).at(0).applied);
  const auto file = dir / "imports/meshfed-pci.pay-1.json";
  const std::string written = testing::read_file(file);
  testing::write_file(file, R"({"labels": {"meshfed.io/managed-by": "meshfed"}, "edited": "by hand"})");
  EXPECT_TRUE(a.apply(desired).at(0).applied);
  EXPECT_NE(testing::read_file(file), written);        // trusted until the next full check
  a.apply({{}, {sample_import("pci.pay-1", 16001)}});  // a change is written
  EXPECT_NE(testing::read_file(file).find("16001"), std::string::npos);
  testing::write_file(file, R"({"labels": {"meshfed.io/managed-by": "meshfed"}, "edited": "by hand"})");
  config::ControlPlaneConfig reload;
  reload.static_cp.inventory_file = (dir / "inv.json").string();
  a.reconfigure(reload, "");
  EXPECT_TRUE(a.apply({{}, {sample_import("pci.pay-1", 16001)}}).at(0).applied);
  EXPECT_NE(testing::read_file(file).find("16001"), std::string::npos);
}

TEST(StaticAdapterImports, NeverTouchesFilesItDidNotWrite) {
  testing::TempDir dir;
  testing::write_file(dir / "imports/meshfed-pci.pay-1.json", R"({"type": "MeshExternalService", "name": "mine"})");
  testing::write_file(dir / "imports/meshfed-other.json", R"({"hand": "written"})");
  testing::write_file(dir / "imports/notes.txt", "keep me");
  StaticAdapter a(dir / "inv.json", dir / "imports");
  auto r = a.apply({{}, {sample_import("pci.pay-1", 16000)}});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].applied);
  EXPECT_NE(r[0].reason.find("name clash"), std::string::npos);
  EXPECT_EQ(testing::read_file(dir / "imports/meshfed-pci.pay-1.json"),
            R"({"type": "MeshExternalService", "name": "mine"})");
  a.apply({});
  EXPECT_TRUE(std::filesystem::exists(dir / "imports/meshfed-other.json"));
  EXPECT_TRUE(std::filesystem::exists(dir / "imports/notes.txt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "imports/meshfed-pci.pay-1.json"));
}

}  // namespace
}  // namespace meshfed::controlplane
