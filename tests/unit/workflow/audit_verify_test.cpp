#include "meshfed/workflow/audit_verify.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "meshfed/workflow/export_workflow.hpp"
#include "support/test_support.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::workflow {
namespace {

// Builds a store with a few audited transitions, then tampers with it through SQLite directly,
// as an attacker with file access would.
class AuditVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::open(dir_ / "meshfed.db");
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    WorkflowSettings s{"pci", "pci", {"internal"}, 3600, 7200, 600};
    ExportWorkflow wf(*db_, clock_, adapter_, s);
    const Principal alice{"alice", {Role::kRequester}}, bob{"bob", {Role::kApprover}};
    for (int i = 0; i < 3; ++i) {
      ExportRequest r{"default", "payments-api", 8443,  "", {"internal"}, "pay-" + std::to_string(i), {},
                      {},        false,          "why", {}};
      auto e = wf.request(alice, r);
      ASSERT_TRUE(e.ok());
      ASSERT_TRUE(wf.approve(bob, e->id, {}).ok());
    }
    ASSERT_TRUE(wf.record_event("meshfed", "config.reloaded", "config/pci", {{"k", "v"}}).ok());
  }

  AuditReport verify(std::optional<ExpectedHead> head = std::nullopt) {
    auto r = verify_audit(*db_, head);
    EXPECT_TRUE(r.ok());
    return *r;
  }

  void exec(const std::string& sql) { db_->execute(sql); }

  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  testing::FakeAdapter adapter_;
  std::unique_ptr<store::Database> db_;
};

TEST_F(AuditVerifyTest, IntactLogVerifies) {
  auto r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 7);
  EXPECT_EQ(r.head_seq, 7);
  EXPECT_TRUE(verify(ExpectedHead{7, r.head_hash}).ok);
}

TEST_F(AuditVerifyTest, ChangedRowIsNamed) {
  exec("UPDATE audit SET actor = 'mallory' WHERE seq = 2");
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("entry 2"), std::string::npos) << r.problem;
}

TEST_F(AuditVerifyTest, ChangedDetailsAreCaught) {
  exec("UPDATE audit SET details = '{\"k\":\"w\"}' WHERE seq = 7");
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("entry 7"), std::string::npos) << r.problem;
}

TEST_F(AuditVerifyTest, DeletedRowIsNamed) {
  exec("DELETE FROM audit WHERE seq = 3");
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("entry 3"), std::string::npos) << r.problem;
}

TEST_F(AuditVerifyTest, ReorderedRowsAreCaught) {
  // Swap the content of entries 2 and 3 while keeping their sequence numbers.
  exec("UPDATE audit SET seq = -2 WHERE seq = 2");
  exec("UPDATE audit SET seq = 2 WHERE seq = 3");
  exec("UPDATE audit SET seq = 3 WHERE seq = -2");
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("entry 2"), std::string::npos) << r.problem;
}

TEST_F(AuditVerifyTest, TruncatedTailIsCaughtThroughTransitions) {
  exec("DELETE FROM audit WHERE seq >= 6");
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("entry 6 is missing"), std::string::npos) << r.problem;
}

TEST_F(AuditVerifyTest, TruncationOfNonExportEntriesNeedsExpectedHead) {
  const auto head = verify();
  exec("DELETE FROM audit WHERE seq = 7");
  EXPECT_TRUE(verify().ok);  // nothing in the store points at entry 7
  auto r = verify(ExpectedHead{7, head.head_hash});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("entry 7"), std::string::npos) << r.problem;
}

TEST_F(AuditVerifyTest, WrongExpectedHashFails) {
  auto r = verify(ExpectedHead{5, std::string(64, 'a')});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("entry 5"), std::string::npos);
}

TEST_F(AuditVerifyTest, TheShortHashCtlAuditShowsIsAcceptedButNotLess) {
  const auto head = verify(std::nullopt);
  ASSERT_TRUE(head.ok);
  EXPECT_TRUE(verify(ExpectedHead{head.head_seq, head.head_hash.substr(0, 16)}).ok);
  EXPECT_FALSE(verify(ExpectedHead{head.head_seq, head.head_hash.substr(0, 15)}).ok);
  EXPECT_FALSE(verify(ExpectedHead{head.head_seq, ""}).ok);
  std::string wrong = head.head_hash.substr(0, 16);
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(verify(ExpectedHead{head.head_seq, wrong}).ok);
}

TEST_F(AuditVerifyTest, CliExitsNonZeroAndNamesTheEntry) {
  exec("UPDATE audit SET action = 'export.rejected' WHERE seq = 4");
  db_.reset();
  auto r = testing::run_meshfed({"audit", "verify", "--state-dir", dir_.path().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("entry 4"), std::string::npos) << r.output;
  // Neither or both of --config and --state-dir: a usage error.
  EXPECT_EQ(testing::run_meshfed({"audit", "verify"}).exit_code, 2);
  EXPECT_EQ(testing::run_meshfed({"audit", "verify", "--state-dir", "x", "--config", "y"}).exit_code, 2);
}

}  // namespace
}  // namespace meshfed::workflow
