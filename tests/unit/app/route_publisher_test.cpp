#include "app/route_publisher.hpp"

#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "meshfed/workflow/export_workflow.hpp"
#include "support/test_support.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::app {
namespace {

using namespace std::chrono_literals;

// Without gateways in the process (the lazy mode): a change only wakes the route watchers,
// and the table is built when someone asks for it.
class RoutePublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(store::Database::open(dir_ / "m.db")).value();
    wf_ = std::make_unique<workflow::ExportWorkflow>(
        *db_, clock_, adapter_, workflow::WorkflowSettings{"pci", "pci", {"internal", "dmz"}, 3600, 7200, 600});
    publisher_ = std::make_unique<RoutePublisher>(
        RoutePublisherDeps{*db_, adapter_, clock_,
                           [] {
                             return routing::RouteInputs{{"internal", "dmz"}, true, std::nullopt, {}};
                           },
                           [this] { ++wakes_; }, [this] { ++failures_; }},
        200ms);
  }

  std::string approved(const std::vector<std::string>& peers) {
    workflow::ExportRequest req{"default", "payments-api", 8443, "", peers, "", {}, int64_t{600}, false, "why", {}};
    auto e = wf_->request({"alice", {workflow::Role::kRequester}}, req);
    EXPECT_TRUE(e.ok()) << e.error().message;
    EXPECT_TRUE(wf_->approve({"bob", {workflow::Role::kApprover}}, e->id, {}).ok());
    return e->id;
  }

  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1800000000000)};
  testing::FakeAdapter adapter_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<workflow::ExportWorkflow> wf_;
  std::unique_ptr<RoutePublisher> publisher_;
  int wakes_ = 0;
  int failures_ = 0;
};

TEST_F(RoutePublisherTest, AChangeWakesTheWatchersAndTheTableIsBuiltOnlyWhenAsked) {
  const auto before = publisher_->current();
  const std::string id = approved({"internal", "dmz"});
  publisher_->changed();
  EXPECT_EQ(wakes_, 1);
  publisher_->tick();  // no gateway here: a tick builds nothing
  EXPECT_EQ(publisher_->current(), before);
  const auto built = publisher_->routes();
  ASSERT_EQ(built->ingress.size(), 2u);
  EXPECT_NE(built->find_ingress(id + ".pci.meshfed", "dmz"), nullptr);
  EXPECT_GT(built->revision, before->revision);
  EXPECT_EQ(wakes_, 2);                    // a new table wakes the watchers again: other gateways fetch it
  EXPECT_EQ(publisher_->routes(), built);  // nothing changed since: no rebuild, same table
  EXPECT_EQ(wakes_, 2);
}

TEST_F(RoutePublisherTest, AnExportPastItsExpiryOnTheClockLosesItsRoutesAtTheNextBuild) {
  approved({"internal"});
  publisher_->changed();
  ASSERT_EQ(publisher_->routes()->ingress.size(), 1u);
  clock_.advance(599s);
  publisher_->changed();
  EXPECT_EQ(publisher_->routes()->ingress.size(), 1u);
  clock_.advance(2s);               // past the 600 s TTL
  publisher_->exports_changed({});  // lazy mode: the same as any change
  EXPECT_EQ(wakes_, 4);             // three changes, one new table
  EXPECT_TRUE(publisher_->routes()->ingress.empty());
  EXPECT_EQ(wakes_, 5);
}

TEST_F(RoutePublisherTest, ABuildTheStoreCannotDoIsCountedAndTriedAgain) {
  approved({"internal"});
  db_->execute("DROP TABLE export_peers");  // every read of export scopes now fails
  publisher_->changed();
  const auto before = publisher_->current();
  EXPECT_EQ(publisher_->routes(), before);  // the last good table stays
  EXPECT_EQ(failures_, 1);
  EXPECT_EQ(publisher_->routes(), before);
  EXPECT_EQ(failures_, 2);  // still marked stale: asked again, tried again
}

}  // namespace
}  // namespace meshfed::app
