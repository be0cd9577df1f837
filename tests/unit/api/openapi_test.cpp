#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include "meshfed/api/admin_api.hpp"
#include "support/test_support.hpp"
#include "unit/api/fake_broker.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::api {
extern const std::string_view kOpenApiDocument;
namespace {

// Every route the server registers is documented, and every documented path is served, so
// each issue extends the code and the document together.
TEST(OpenApi, DocumentAndRouterAgree) {
  testing::TempDir dir;
  auto db = store::Database::open(dir / "m.db");
  ManualClock clock(from_unix_ms(0));
  testing::FakeAdapter adapter;
  workflow::ExportWorkflow wf(**db, clock, adapter, {});
  metrics::Registry registry;
  federation::ImportManager imports(**db, clock, adapter, {});
  testing::FakeBroker around({});
  AdminApi api({wf, adapter, registry, imports, around, around, around, around});

  std::set<std::string> served;
  for (const auto& r : api.router().routes()) {
    std::string m = r.method;
    for (auto& c : m) c = static_cast<char>(std::tolower(c));
    served.insert(m + " " + r.pattern);
  }
  const auto doc = nlohmann::json::parse(kOpenApiDocument);
  std::set<std::string> documented;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) documented.insert(method + " " + path);
  }
  EXPECT_EQ(served, documented);
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
}

TEST(OpenApi, ServedDocumentIsTheRepositoryFile) {
  EXPECT_EQ(std::string(kOpenApiDocument),
            testing::read_file(std::filesystem::path(MESHFED_SOURCE_DIR) / "docs" / "openapi.json"));
}

}  // namespace
}  // namespace meshfed::api
