#include "meshfed/audit/chain.hpp"

#include <gtest/gtest.h>

#include "meshfed/core/text.hpp"

namespace meshfed::audit {
namespace {

Entry sample() {
  Entry e;
  e.seq = 1;
  e.time = "2026-11-26T04:44:02.123Z";
  e.actor = "bob";
  e.action = "export.approved";
  e.object = "export/payments-api-abcd1234";
  e.details = {{"comment", "grüß dich"}, {"alias", "payments-api"}};
  return e;
}

TEST(AuditChain, CanonicalJsonHasSortedKeysNoWhitespaceAndRawUtf8) {
  EXPECT_EQ(
      canonical_json(sample()),
      "{\"action\":\"export.approved\",\"actor\":\"bob\",\"details\":{\"alias\":\"payments-api\",\"comment\":"
      "\"grüß dich\"},\"object\":\"export/payments-api-abcd1234\",\"seq\":1,\"time\":\"2026-11-26T04:44:02.123Z\"}");
}

TEST(AuditChain, HashCoversPreviousHashAndContent) {
  const Entry e = sample();
  EXPECT_EQ(compute_hash(kGenesisHash, e), sha256_hex(kGenesisHash + "\n" + canonical_json(e)));
  EXPECT_NE(compute_hash(kGenesisHash, e), compute_hash(std::string(64, '1'), e));
}

TEST(AuditChain, VerifyFindsFirstBrokenLink) {
  std::vector<Entry> chain;
  std::string prev = kGenesisHash;
  for (int i = 1; i <= 4; ++i) {
    Entry e = sample();
    e.seq = i;
    e.prev_hash = prev;
    e.hash = compute_hash(prev, e);
    prev = e.hash;
    chain.push_back(e);
  }
  EXPECT_FALSE(verify_chain(chain).has_value());
  chain[2].actor = "mallory";
  auto p = verify_chain(chain);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->seq, 3);
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace meshfed::audit
