#include "app/periodic_jobs.hpp"

#include <gtest/gtest.h>

#include "meshfed/store/audit_repository.hpp"
#include "support/test_support.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::app {
namespace {

using namespace std::chrono_literals;

// An inventory source that counts how often it is asked and can have a new inventory ready.
class CountingAdapter final : public controlplane::Adapter {
 public:
  Status refresh_inventory(bool) override {
    ++refreshes;
    if (next) inventory_ = std::exchange(next, nullptr);
    return {};
  }
  std::shared_ptr<const controlplane::Inventory> inventory() const override { return inventory_; }
  std::vector<controlplane::ApplyResult> apply(const controlplane::DesiredState&) override { return {}; }
  void reconfigure(const config::ControlPlaneConfig&, const std::string&) override {}
  controlplane::Health health() const override { return {true, "counting", 0, {}}; }

  int refreshes = 0;
  std::shared_ptr<const controlplane::Inventory> next;

 private:
  std::shared_ptr<const controlplane::Inventory> inventory_ = testing::FakeAdapter().inventory();
};

class PeriodicJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(store::Database::open(dir_ / "m.db")).value();
    workflow_ = std::make_unique<workflow::ExportWorkflow>(
        *db_, clock_, adapter_, workflow::WorkflowSettings{"pci", "pci", {"internal"}, 3600, 7200, 600});
    imports_ = std::make_unique<federation::ImportManager>(*db_, clock_, adapter_, federation::ImportSettings{});
    catalog_ = std::make_unique<federation::Catalog>(*db_, *db_, clock_);
    routes_ = std::make_unique<RoutePublisher>(
        RoutePublisherDeps{*db_, adapter_, clock_, [] { return routing::RouteInputs{}; }, [] {}, [] {}}, 200ms);
    jobs_ = std::make_unique<PeriodicJobs>(
        PeriodicJobsDeps{*workflow_, *imports_, catalog_.get(), adapter_, *routes_, [this] { ++inventory_changes_; },
                         [this] { return std::exchange(failures_, {}); },
                         [this](const std::string& op) { store_errors_.push_back(op); }, [this] { return leading_; },
                         db_.get(), [] { return int64_t{30}; }, [this] { ++archive_runs_; }},
        start_);
  }

  int audited(const std::string& action) {
    int n = 0;
    (void)db_->read([&](store::Reader& tx) -> Status {
      for (const auto& e : testing::must(store::AuditQueries(tx).list(0, 1000))) n += e.action == action;
      return {};
    });
    return n;
  }

  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1800000000000)};
  CountingAdapter adapter_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<workflow::ExportWorkflow> workflow_;
  std::unique_ptr<federation::ImportManager> imports_;
  std::unique_ptr<federation::Catalog> catalog_;
  std::unique_ptr<RoutePublisher> routes_;
  const PeriodicJobs::Time start_ = std::chrono::steady_clock::time_point(std::chrono::hours(1000));
  std::unique_ptr<PeriodicJobs> jobs_;
  bool leading_ = true;
  int inventory_changes_ = 0;
  int archive_runs_ = 0;
  std::map<std::string, int64_t> failures_;
  std::vector<std::string> store_errors_;
};

TEST_F(PeriodicJobsTest, ExpiryRunsEveryTickOnTheWorkflowsClock) {
  auto e =
      workflow_->request({"alice", {workflow::Role::kRequester}},
                         {"default", "payments-api", 8443, "", {"internal"}, "", {}, int64_t{600}, false, "why", {}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_TRUE(workflow_->approve({"bob", {workflow::Role::kApprover}}, e->id, {}).ok());
  jobs_->run(start_);
  EXPECT_EQ(workflow_->get(e->id)->state, store::ExportState::kApproved);
  clock_.advance(601s);
  jobs_->run(start_ + 200ms);
  EXPECT_EQ(workflow_->get(e->id)->state, store::ExportState::kExpired);
  EXPECT_TRUE(store_errors_.empty());
}

// Replicas: a follower leaves expiry to the leader (it happens once per domain), and still reads
// its own inventory; when it leads, what fell due meanwhile expires at its first tick.
TEST_F(PeriodicJobsTest, AFollowerLeavesExpiryToTheLeaderAndStillReadsItsInventory) {
  auto e =
      workflow_->request({"alice", {workflow::Role::kRequester}},
                         {"default", "payments-api", 8443, "", {"internal"}, "", {}, int64_t{600}, false, "why", {}});
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_TRUE(workflow_->approve({"bob", {workflow::Role::kApprover}}, e->id, {}).ok());
  leading_ = false;
  clock_.advance(601s);
  jobs_->run(start_);
  EXPECT_EQ(workflow_->get(e->id)->state, store::ExportState::kApproved);
  EXPECT_EQ(adapter_.refreshes, 1);
  leading_ = true;
  jobs_->run(start_ + 200ms);
  EXPECT_EQ(workflow_->get(e->id)->state, store::ExportState::kExpired);
  EXPECT_EQ(audited("export.expired"), 1);
}

// The audit archive runs on the leader at its first tick, then once an hour.
TEST_F(PeriodicJobsTest, TheAuditIsArchivedByTheLeaderAtStartAndThenHourly) {
  leading_ = false;
  jobs_->run(start_);
  EXPECT_EQ(archive_runs_, 0);
  leading_ = true;
  jobs_->run(start_ + 1s);
  EXPECT_EQ(archive_runs_, 1);
  jobs_->run(start_ + 1s + PeriodicJobs::kAuditArchiveEvery - 1ms);
  EXPECT_EQ(archive_runs_, 1);
  jobs_->run(start_ + 1s + PeriodicJobs::kAuditArchiveEvery);
  EXPECT_EQ(archive_runs_, 2);
}

TEST_F(PeriodicJobsTest, TheInventoryIsLookedAtOnceASecondAndAChangeIsPassedOn) {
  jobs_->run(start_);
  jobs_->run(start_ + 200ms);
  jobs_->run(start_ + 999ms);
  EXPECT_EQ(adapter_.refreshes, 1);
  EXPECT_EQ(inventory_changes_, 0);  // the same inventory
  adapter_.next = std::make_shared<const controlplane::Inventory>();
  jobs_->run(start_ + 1s);
  EXPECT_EQ(adapter_.refreshes, 2);
  EXPECT_EQ(inventory_changes_, 1);
  jobs_->run(start_ + 2s);
  EXPECT_EQ(inventory_changes_, 1);  // nothing new
}

TEST_F(PeriodicJobsTest, AuthenticationFailuresAreAuditedAsOneSummaryAMinute) {
  failures_ = {{"unknown_token", 3}};
  jobs_->run(start_ + 59s);
  EXPECT_EQ(audited("auth.failures"), 0);
  jobs_->run(start_ + 60s);
  EXPECT_EQ(audited("auth.failures"), 1);
  failures_ = {{"unknown_token", 1}};
  jobs_->run(start_ + 119s);  // within the next minute: held until it ends
  EXPECT_EQ(audited("auth.failures"), 1);
  jobs_->run(start_ + 120s);
  EXPECT_EQ(audited("auth.failures"), 2);
  jobs_->run(start_ + 180s);  // a quiet minute writes nothing
  EXPECT_EQ(audited("auth.failures"), 2);
}

TEST_F(PeriodicJobsTest, AfterAFailedWriteTheStoreIsProbedUntilAWriteSucceeds) {
  auto probes = [&] {
    int64_t n = 0;
    (void)db_->read([&](store::Reader& tx) -> Status {
      store::Statement s(tx, "SELECT probes FROM store_health WHERE id = 1");
      if (s.step()) n = s.int64(0);
      return {};
    });
    return n;
  };
  jobs_->run(start_ + 200ms);
  EXPECT_EQ(probes(), 0) << "a store that writes is not probed";
  db_->fail_next_commit();
  EXPECT_FALSE(workflow_->record_event(workflow::kSystemActor, "test.event", "x", {}).ok());
  ASSERT_TRUE(db_->write_failure()) << "a failed commit is a write failure";
  EXPECT_NE(db_->write_failure()->find("injected fault"), std::string::npos);
  jobs_->run(start_ + 400ms);
  EXPECT_FALSE(db_->write_failure()) << "the probe's write succeeded: nothing else had to be written";
  EXPECT_EQ(probes(), 1);
  jobs_->run(start_ + 600ms);
  EXPECT_EQ(probes(), 1);
  EXPECT_EQ(audited("test.event"), 0);
}

TEST_F(PeriodicJobsTest, ARefusedBusinessRuleIsNotAWriteFailure) {
  EXPECT_FALSE(
      db_->transaction([](store::Writer&) -> Status { return make_error(ErrorCode::kFailedPrecondition, "no"); }).ok());
  EXPECT_FALSE(db_->write_failure());
}

}  // namespace
}  // namespace meshfed::app
