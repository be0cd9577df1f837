#include "meshfed/federation/witness_book.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "meshfed/federation/witness_check.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/witness_repository.hpp"
#include "support/test_support.hpp"

namespace meshfed::federation {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string hash_of(int64_t seq, char c = 'a') {
  std::string h(64, c);
  const auto s = std::to_string(seq);
  return h.replace(64 - s.size(), s.size(), s);
}

class WitnessBookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::make_pki(dir_ / "pki", "internal");
    testing::make_pki(dir_ / "dmz-pki", "dmz");
    signer_ = std::make_shared<const pki::Signer>(
        testing::must(pki::Signer::load(dir_ / "pki/broker.pem", dir_ / "pki/broker-key.pem")));
    dmz_ = std::make_shared<const pki::Signer>(
        testing::must(pki::Signer::load(dir_ / "dmz-pki/broker.pem", dir_ / "dmz-pki/broker-key.pem")));
    db_ = testing::must(store::Database::open(dir_ / "m.db"));
    book_ = std::make_unique<WitnessBook>(
        *db_, clock_, metrics_, "internal", [this] { return signer_; }, [this] { return days_; });
  }

  audit::SignedHead head(int64_t seq, char c = 'a') {
    audit::Head h{seq, hash_of(seq, c), "2026-12-07T10:00:00.000Z"};
    return {h, dmz_->sign(audit::signed_text("dmz", h))};
  }
  bool witness(int64_t seq, char c = 'a') { return testing::must(book_->witness("dmz", head(seq, c))); }
  std::vector<store::WitnessedHeadRecord> kept() {
    return testing::must(
        store::read_value(*db_, [](store::Reader& tx) { return store::WitnessQueries(tx).of_peer("dmz"); }));
  }
  size_t kept_of(const std::string& kind) {
    size_t n = 0;
    for (const auto& r : kept()) n += r.kind == kind;
    return n;
  }
  int64_t audited(const std::string& action) {
    const auto entries =
        testing::must(store::read_value(*db_, [](store::Reader& tx) { return store::AuditQueries(tx).list(0, 1000); }));
    int64_t n = 0;
    for (const auto& e : entries) n += e.action == action;
    return n;
  }
  double conflicts() {
    const std::string text = metrics_.expose_where("meshfed_audit_witness_conflicts_total", "peer", "dmz");
    const auto line = text.find("meshfed_audit_witness_conflicts_total{peer=\"dmz\"} ");
    return line == std::string::npos ? 0 : std::stod(text.substr(text.find(' ', line) + 1));
  }

  testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1'800'000'000'000)};
  metrics::Registry metrics_;
  int64_t days_ = 2;
  std::shared_ptr<const pki::Signer> signer_;
  std::shared_ptr<const pki::Signer> dmz_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<WitnessBook> book_;
};

TEST_F(WitnessBookTest, KeepsTheNewestFewAndTheFirstOfEachHourCountersigned) {
  for (int64_t seq = 1; seq <= kRecentHeads + 10; ++seq) {
    EXPECT_FALSE(witness(seq));
    clock_.advance(1s);
  }
  EXPECT_FALSE(witness(kRecentHeads + 10));  // the same head again: nothing new
  EXPECT_EQ(kept_of(store::kRecentHead), static_cast<size_t>(kRecentHeads));
  EXPECT_EQ(kept_of(store::kHourlyHead), 1u);
  clock_.advance(1h);
  EXPECT_FALSE(witness(kRecentHeads + 11));
  EXPECT_EQ(kept_of(store::kHourlyHead), 2u);

  const auto state = witness_state(kept());
  ASSERT_TRUE(state.newest);
  EXPECT_EQ(state.newest->witnessed.signed_head.head.seq, kRecentHeads + 11);
  EXPECT_TRUE(state.evidence.empty());
  // What the peer gets back verifies against our certificate, and names us.
  const auto answer = testing::must(book_->answer(*db_, "dmz"));
  const auto heads = testing::must(read_witness_answer("internal", "dmz", answer, signer_->certificate_der()));
  // The recent ones, and the first of the first hour (the second hour's first is the newest).
  EXPECT_EQ(heads.size(), static_cast<size_t>(kRecentHeads) + 1);
  // ...and against nobody else's.
  EXPECT_FALSE(read_witness_answer("internal", "dmz", answer, dmz_->certificate_der()).ok());
  EXPECT_FALSE(read_witness_answer("pci", "dmz", answer, signer_->certificate_der()).ok());
  // More heads than any witness keeps is refused whole, before a signature is checked.
  json flood = json::parse(answer);
  const json one = flood["heads"][0];
  flood["heads"] = json::array();
  for (size_t i = 0; i <= kRecentHeads + 24 * 365 + kMostEvidence; ++i) flood["heads"].push_back(one);
  const auto refused = read_witness_answer("internal", "dmz", flood.dump(), signer_->certificate_der());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("more than the"), std::string::npos) << refused.error().message;
}

TEST_F(WitnessBookTest, AHeadGoingBackOrDifferingAtAKeptSeqIsAConflictWithEvidence) {
  witness(10);
  witness(20);
  EXPECT_TRUE(witness(15));  // back from 20: a rollback
  EXPECT_EQ(conflicts(), 1);
  EXPECT_EQ(audited("audit.witness_conflict"), 1);
  auto state = witness_state(kept());
  ASSERT_EQ(state.evidence.size(), 1u);
  EXPECT_EQ(state.evidence[0].witnessed.signed_head.head.seq, 20);
  EXPECT_EQ(state.evidence[0].contradicted_by_seq, 15);
  EXPECT_EQ(state.newest->witnessed.signed_head.head.seq, 15);  // the peer's log goes on from there

  clock_.advance(1s);
  EXPECT_FALSE(witness(16));      // on from there: no conflict
  EXPECT_TRUE(witness(10, 'b'));  // seq 10 kept with another hash: a rewrite
  EXPECT_EQ(conflicts(), 2);
  EXPECT_EQ(kept_of(store::kHourlyHead), 1u);       // the hour's first head went to evidence: 10b stands in
  EXPECT_EQ(audited("audit.witness_conflict"), 1);  // at most one entry per peer per hour
  EXPECT_FALSE(witness(20, 'c'));                   // evidence is not compared again: one incident, one conflict
  clock_.advance(61min);
  EXPECT_TRUE(witness(5));
  EXPECT_EQ(audited("audit.witness_conflict"), 2);
  EXPECT_EQ(witness_state(kept()).evidence.size(), 6u);  // 20a; 15, 16, 10a; 10b, 20c
  // The evidence stays in the answer to the peer, countersigned like any head.
  const auto answer = testing::must(book_->answer(*db_, "dmz"));
  EXPECT_NE(answer.find("\"evidence\""), std::string::npos);
  EXPECT_TRUE(read_witness_answer("internal", "dmz", answer, signer_->certificate_der()).ok());
}

TEST_F(WitnessBookTest, AHostilePeerGrowsNoMoreThanTheBoundsAndRetentionAllow) {
  // A peer flipping between two lines of history as fast as it is asked.
  for (int i = 0; i < 200; ++i) {
    witness(100 + i, 'a');
    witness(50 + i, 'b');
    clock_.advance(1min);
  }
  EXPECT_LE(kept_of(store::kRecentHead), static_cast<size_t>(kRecentHeads));
  EXPECT_LE(kept_of(store::kEvidenceHead), static_cast<size_t>(kMostEvidence));
  EXPECT_LE(kept_of(store::kHourlyHead), 4u);  // 200 minutes
  EXPECT_LE(audited("audit.witness_conflict"), 4);
  EXPECT_GE(conflicts(), 200);
  clock_.advance(std::chrono::hours(24 * days_) + 1min);
  ASSERT_TRUE(book_->prune().ok());
  EXPECT_TRUE(kept().empty());
}

TEST(WitnessHeadTest, APeersHeadIsCheckedFieldByField) {
  const audit::Head h{3, std::string(64, 'f'), "2026-12-07T10:00:00.000Z"};
  EXPECT_EQ(audit::signed_text("dmz", h), "dmz|3|" + std::string(64, 'f') + "|2026-12-07T10:00:00.000Z");
  auto j = audit::to_json(audit::SignedHead{h, "c2ln"});
  EXPECT_TRUE(audit::signed_head_from_json(j, "head").ok());
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{{"seq", -1},
                                                                              {"seq", "3"},
                                                                              {"hash", "ABC"},
                                                                              {"hash", std::string(64, 'g')},
                                                                              {"time", std::string(41, '1')},
                                                                              {"signature", ""},
                                                                              {"signature", std::string(300, 'A')}}) {
    auto bad = j;
    bad[field] = value;
    const auto r = audit::signed_head_from_json(bad, "head");
    ASSERT_FALSE(r.ok()) << field << "=" << value.dump();
    EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(audit::signed_head_from_text(std::string(2000, ' '), "head").ok());
  EXPECT_FALSE(audit::signed_head_from_text("{", "head").ok());
  EXPECT_TRUE(audit::signed_head_from_text(j.dump(), "head").ok());
}

TEST(SigningTest, ASignatureVerifiesOnlyAgainstItsKeysCertificateAndText) {
  testing::TempDir dir;
  testing::make_pki(dir / "a", "a");
  testing::make_pki(dir / "b", "b");
  const auto a = testing::must(pki::Signer::load(dir / "a/broker.pem", dir / "a/broker-key.pem"));
  const auto b = testing::must(pki::Signer::load(dir / "b/broker.pem", dir / "b/broker-key.pem"));
  const auto sig = a.sign("a|1|x|t");
  EXPECT_TRUE(pki::verify_signature(a.certificate_der(), "a|1|x|t", sig).ok());
  EXPECT_FALSE(pki::verify_signature(a.certificate_der(), "a|2|x|t", sig).ok());
  EXPECT_FALSE(pki::verify_signature(b.certificate_der(), "a|1|x|t", sig).ok());
  EXPECT_FALSE(pki::verify_signature(a.certificate_der(), "a|1|x|t", "not base64!").ok());
  EXPECT_FALSE(pki::verify_signature("", "a|1|x|t", sig).ok());
  // A key that is not the certificate's is refused at load.
  EXPECT_FALSE(pki::Signer::load(dir / "a/broker.pem", dir / "b/broker-key.pem").ok());
  for (const std::string s : {"f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(pki::base64_decode(pki::base64_encode(s)).value_or("?"), s);
  }
  EXPECT_FALSE(pki::base64_decode("Zm9=v").has_value());
  EXPECT_FALSE(pki::base64_decode("Zm=v").has_value());
}

}  // namespace
}  // namespace meshfed::federation
