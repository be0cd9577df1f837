// The audit log over years: entries past their retention leave the store for segment files,
// the live chain stays verifiable from its newest checkpoint, and the segments carry the whole
// history back to entry 1. Real SQLite files and real segment files, tampered with as an
// attacker with file access would.
#include "meshfed/workflow/audit_archive.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "meshfed/store/audit_repository.hpp"
#include "meshfed/workflow/audit_verify.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "support/test_support.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace meshfed::workflow {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class AuditArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(store::Database::open(dir_ / "meshfed.db")).value();
    workflow_ = std::make_unique<ExportWorkflow>(*db_, clock_, adapter_,
                                                 WorkflowSettings{"pci", "pci", {"internal"}, 3600, 7200, 600});
  }

  // One export requested and approved: two audited transitions that point at their entries.
  void approve_one(const std::string& alias) {
    ExportRequest r{"default", "payments-api", 8443, "", {"internal"}, alias, {}, {}, false, "why", {}};
    auto e = workflow_->request({"alice", {Role::kRequester}}, r);
    ASSERT_TRUE(e.ok()) << e.error().message;
    ASSERT_TRUE(workflow_->approve({"bob", {Role::kApprover}}, e->id, {}).ok());
  }
  void events(int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(workflow_->record_event("meshfed", "test.event", "x", {{"i", i}}).ok());
  }
  // Entries 1 to 7, forty days old, go to audit-1-7.jsonl; 8, 9 and the checkpoint (10) stay.
  void archive_seven_of_nine() {
    approve_one("old-1");
    events(5);
    clock_.advance(std::chrono::hours(24) * 40);
    approve_one("new-1");
    ASSERT_EQ(archive(30).size(), 1u);
  }
  std::vector<ArchivedSegment> archive(int64_t days, int64_t per_segment = 100000) {
    auto made = archive_audit(*db_, clock_.now(), {archives_, days, per_segment, 10});
    EXPECT_TRUE(made.ok()) << made.error().message;
    return made.ok() ? *made : std::vector<ArchivedSegment>{};
  }
  AuditReport verify(bool with_archives) {
    auto r = verify_audit(*db_, std::nullopt, with_archives ? std::optional<fs::path>(archives_) : std::nullopt);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : AuditReport{};
  }
  int64_t live_rows() {
    int64_t n = 0;
    (void)db_->read([&](store::Reader& tx) -> Status {
      n = static_cast<int64_t>(testing::must(store::AuditQueries(tx).list(0, 100000)).size());
      return {};
    });
    return n;
  }

  testing::TempDir dir_;
  fs::path archives_ = dir_ / "archive";
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  testing::FakeAdapter adapter_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<ExportWorkflow> workflow_;
};

// Entries older than the retention leave the store: the store keeps the newer ones and one
// checkpoint, the live chain verifies from it, and with the archives the whole history does,
// the archived export transitions included.
TEST_F(AuditArchiveTest, OldEntriesLeaveTheStoreAndTheChainStillVerifiesWholeOrFromItsCheckpoint) {
  approve_one("old-1");
  events(5);  // entries 1 to 7
  clock_.advance(std::chrono::hours(24) * 40);
  approve_one("new-1");  // entries 8 and 9
  const auto made = archive(30);
  ASSERT_EQ(made.size(), 1u);
  EXPECT_EQ(made[0].first_seq, 1);
  EXPECT_EQ(made[0].last_seq, 7);
  EXPECT_TRUE(fs::exists(archives_ / "audit-1-7.jsonl"));
  EXPECT_EQ(live_rows(), 3);  // 8, 9 and the checkpoint

  const auto live = verify(false);
  EXPECT_TRUE(live.ok) << live.problem;
  EXPECT_EQ(live.live_from, 8);
  EXPECT_EQ(live.entries, 3);
  EXPECT_EQ(live.head_seq, 10);
  EXPECT_EQ(live.unchecked_transitions, 2);  // old-1's, in the archive
  const auto whole = verify(true);
  EXPECT_TRUE(whole.ok) << whole.problem;
  EXPECT_EQ(whole.entries, 10);
  EXPECT_EQ(whole.archived_entries, 7);
  EXPECT_EQ(whole.unchecked_transitions, 0);
  EXPECT_EQ(whole.head_hash, live.head_hash);

  EXPECT_TRUE(archive(30).empty());  // nothing more is due
}

// Segments are bounded, and a segment's checkpoint may land several segments later: the whole
// history is still read back, across archives made months apart.
TEST_F(AuditArchiveTest, ManySegmentsOverManyRunsVerifyBackToTheFirstEntry) {
  for (int month = 0; month < 4; ++month) {
    approve_one("m" + std::to_string(month));
    events(7);
    clock_.advance(std::chrono::hours(24) * 31);
    (void)archive(30, 4);
  }
  const auto segments = std::distance(fs::directory_iterator(archives_), fs::directory_iterator());
  EXPECT_GT(segments, 4);
  const auto whole = verify(true);
  EXPECT_TRUE(whole.ok) << whole.problem;
  EXPECT_GT(whole.live_from, 30);
  EXPECT_EQ(whole.entries, whole.head_seq);
  EXPECT_TRUE(verify(false).ok);
}

// What an attacker with file access might do: delete the oldest rows without a checkpoint,
// change an archived entry, drop a segment, change a checkpoint. Each fails, naming what.
TEST_F(AuditArchiveTest, TamperingWithTheStoreOrTheArchivesIsNamed) {
  ASSERT_NO_FATAL_FAILURE(archive_seven_of_nine());

  {  // an archived entry changed (the request, entry 1): its hash no longer matches it
    const fs::path file = archives_ / "audit-1-7.jsonl";
    std::string text = testing::read_file(file);
    const std::string original = text;
    text.replace(text.find("\"alice\""), 7, "\"mallo\"");
    testing::write_file(file, text);
    auto r = verify(true);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.problem.find("entry 1: hash does not match"), std::string::npos) << r.problem;
    EXPECT_TRUE(verify(false).ok);  // the live chain alone does not read archives
    testing::write_file(file, original);
  }
  {  // a line without end (garbage appended): refused after its first MiB, never read whole
    const fs::path file = archives_ / "audit-1-7.jsonl";
    const std::string original = testing::read_file(file);
    std::string text = original;
    text.insert(text.find('\n') + 1, std::string(64 * 1024 * 1024, 'x'));
    testing::write_file(file, text);
    auto r = verify(true);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.problem.find("audit-1-7.jsonl: line 2 is longer than 1048576 bytes"), std::string::npos) << r.problem;
    testing::write_file(file, original);
  }
  {  // a segment missing
    fs::rename(archives_ / "audit-1-7.jsonl", dir_ / "away.jsonl");
    auto r = verify(true);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.problem.find("audit-1-7.jsonl"), std::string::npos) << r.problem;
    fs::rename(dir_ / "away.jsonl", archives_ / "audit-1-7.jsonl");
  }
  ASSERT_TRUE(verify(true).ok);
  // The checkpoint changed to claim another segment: its hash breaks the chain.
  db_->execute("UPDATE audit SET details = replace(details, '\"last_seq\":7', '\"last_seq\":6') WHERE seq = 10");
  auto r = verify(false);
  EXPECT_FALSE(r.ok);
  // And the oldest live rows deleted outright: nothing anchors the chain.
  db_->execute("DELETE FROM audit WHERE seq <= 8");
  r = verify(false);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("entries 1 to 8 are gone and no checkpoint names them"), std::string::npos) << r.problem;
}

// On a replica that no longer leads, nothing is archived: the rows stay, and no file is left.
TEST_F(AuditArchiveTest, AReplicaWhoseTermEndedArchivesNothing) {
  approve_one("old-1");
  clock_.advance(std::chrono::hours(24) * 40);
  db_->set_leader_term([] { return std::optional<int64_t>(); });
  auto made = archive_audit(*db_, clock_.now(), {archives_, 30, 100000, 10});
  EXPECT_FALSE(made.ok());
  EXPECT_EQ(live_rows(), 2);
  EXPECT_TRUE(!fs::exists(archives_) || fs::is_empty(archives_));
}

// The command operators run: the live chain from its checkpoint, the whole history with
// --archives, and a damaged segment named with a non-zero exit.
TEST_F(AuditArchiveTest, TheCliChecksTheLiveChainOrTheWholeHistory) {
  ASSERT_NO_FATAL_FAILURE(archive_seven_of_nine());
  db_.reset();
  const std::string state = dir_.path().string();
  auto live = testing::run_meshfed({"audit", "verify", "--state-dir", state});
  EXPECT_EQ(live.exit_code, 0) << live.output;
  EXPECT_NE(live.output.find("3 entries, head 10:"), std::string::npos) << live.output;
  EXPECT_NE(live.output.find("entries before 8 are archived"), std::string::npos) << live.output;
  auto whole = testing::run_meshfed({"audit", "verify", "--state-dir", state, "--archives", archives_.string()});
  EXPECT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_NE(whole.output.find("10 entries (7 archived), head 10:"), std::string::npos) << whole.output;
  fs::resize_file(archives_ / "audit-1-7.jsonl", 100);
  auto damaged = testing::run_meshfed({"audit", "verify", "--state-dir", state, "--archives", archives_.string()});
  EXPECT_EQ(damaged.exit_code, 1) << damaged.output;
  EXPECT_NE(damaged.output.find("audit-1-7.jsonl"), std::string::npos) << damaged.output;
}

}  // namespace
}  // namespace meshfed::workflow
