// The audit log witnessed across the boundary: three domains, real brokers. What root on one
// broker's host could do to its log once the broker is stopped (restore an older backup,
// rewrite the chain with consistent hashes from an early entry, delete entries and re-link the
// rest) leaves a chain that verifies on its own, and is caught by what the peers witnessed: by
// `meshfed audit verify --witnesses` and by the broker at start. Forged signatures are refused.
#include <gtest/gtest.h>
#include <signal.h>

#include <mutex>

#include "approve.hpp"
#include "meshfed/audit/head.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/pki/signing.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/statement.hpp"
#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;

// What root could do to a stopped broker's SQLite file: entries from `from_seq` on are taken
// out (`drop` of them) or changed (`rewrite` edits the first one's details), and every entry
// after is given the seq and hashes that make the chain consistent again.
void relink_chain(const fs::path& db_file, int64_t from_seq, int64_t drop, bool rewrite) {
  auto db = must(store::Database::open(db_file));
  must(db->transaction([&](store::Writer& tx) -> Status {
    auto entries = must(store::AuditQueries(tx).list(from_seq - 1, 1000000));
    if (entries.size() <= static_cast<size_t>(drop)) return make_error(ErrorCode::kInternal, "too few entries");
    store::Statement(tx, "DELETE FROM audit WHERE seq >= ?").bind(1, from_seq).exec();
    entries.erase(entries.begin(), entries.begin() + drop);
    if (rewrite) entries.front().details["rewritten_by"] = "root";
    // Appended again, each gets the next seq and the hashes that chain it.
    for (auto& e : entries) must(store::AuditRepository(tx).append(std::move(e)));
    return {};
  }));
}

class WitnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A head reaches the peers with each catalog answer, a 304 at the latest: every second here.
    for (const std::string d : {"dmz", "internal", "pci"}) {
      fed_.domain(d).config["sync"]["wait_s"] = 1;
      fed_.domain(d).save_config();
    }
    fed_.advertise_peer_api("dmz");  // a port of its own, the same when dmz starts again
    fed_.start_all();
    fed_.connect();
  }

  json get(const std::string& d, const std::string& target) {
    auto c = fed_.admin(d);
    return api_call(*c, "GET", target, fed_.domain(d).tokens["victor"]).body;
  }
  int64_t head_seq(const std::string& d) { return get(d, "/api/v1/audit/head").value("seq", int64_t{-1}); }
  json witness_of(const std::string& witness, const std::string& d) {
    const json peers = get(witness, "/api/v1/peers");
    for (const auto& p : peers["items"]) {
      if (p["domain"] == d) return p.value("witness", json::object());
    }
    return json::object();
  }
  // Until both of dmz's peers have witnessed its log up to its current head.
  void wait_until_witnessed() {
    const int64_t seq = head_seq("dmz");
    for (const std::string witness : {"internal", "pci"}) {
      ASSERT_TRUE(wait_until([&] {
        const json newest = witness_of(witness, "dmz").value("newest", json());
        return newest.is_object() && newest.value("seq", int64_t{0}) >= seq;
      })) << witness
          << " never witnessed dmz's head " << seq << ": " << get(witness, "/api/v1/peers").dump();
    }
  }
  // Approvals, a revocation and refused self-approvals in dmz: a history worth rewriting.
  void make_history() {
    auto c = fed_.admin("dmz");
    const auto& tokens = fed_.domain("dmz").tokens;
    const std::string kept = request_and_approve(
        fed_, "dmz",
        {{"mesh", "default"}, {"service", "payments-api"}, {"port", 8443}, {"peers", {"internal"}}, {"reason", "x"}});
    const std::string revoked = request_and_approve(
        fed_, "dmz", {{"mesh", "default"}, {"service", "ledger"}, {"port", 5432}, {"peers", {"pci"}}, {"reason", "y"}});
    ASSERT_FALSE(kept.empty());
    ASSERT_EQ(
        api_call(*c, "POST", "/api/v1/exports/" + revoked + "/revoke", tokens.at("bob"), json{{"comment", "done"}})
            .status,
        200);
    wait_until_witnessed();
  }
  void refuse_self_approvals(int n) {
    auto c = fed_.admin("dmz");
    const auto& tokens = fed_.domain("dmz").tokens;
    // An admin may request and approve, but not both for one export: each try is audited.
    auto r = api_call(
        *c, "POST", "/api/v1/exports", tokens.at("ada"),
        json{{"mesh", "default"}, {"service", "payments-api"}, {"port", 8443}, {"peers", {"pci"}}, {"reason", "z"}});
    ASSERT_EQ(r.status, 201) << r.body.dump();
    for (int i = 0; i < n; ++i) {
      const auto refused =
          api_call(*c, "POST", "/api/v1/exports/" + r.body["id"].get<std::string>() + "/approve", tokens.at("ada"));
      EXPECT_EQ(refused.status, 403) << refused.body.dump();
    }
    wait_until_witnessed();
  }
  CommandResult verify_witnesses(const std::string& d) {
    return run_meshfed({"audit", "verify", "--config", fed_.domain(d).config_file.string(), "--witnesses"});
  }
  fs::path db_file() const { return const_cast<Federation&>(fed_).domain("dmz").state_dir / "meshfed.db"; }

  // dmz, stopped and tampered with, is caught by verify --witnesses and by itself at start,
  // each naming the witnessing peer and the seq it saw.
  void expect_caught(int64_t witnessed_seq) {
    const auto verified = verify_witnesses("dmz");
    EXPECT_EQ(verified.exit_code, 1) << verified.output;
    EXPECT_NE(verified.output.find("peer internal witnessed seq "), std::string::npos) << verified.output;
    EXPECT_NE(verified.output.find("peer pci witnessed seq "), std::string::npos) << verified.output;
    EXPECT_NE(verified.output.find("witnessed seq " + std::to_string(witnessed_seq) + " "), std::string::npos)
        << verified.output;

    fed_.broker("dmz").start();
    const json check = get("dmz", "/api/v1/audit/witnesses");
    EXPECT_EQ(check.value("outcome", ""), "failed") << check.dump();
    EXPECT_NE(check.dump().find("peer internal witnessed seq"), std::string::npos) << check.dump();
    EXPECT_GT(fed_.metric("dmz", "meshfed_audit_witness_contradictions{peer=\"internal\"}"), 0);
    EXPECT_NE(fed_.broker("dmz").log().find("audit witness: peer internal witnessed seq"), std::string::npos);
    const json audit = get("dmz", "/api/v1/audit?limit=500");
    EXPECT_NE(audit.dump().find("audit.witness_check_failed"), std::string::npos);
    const json api = get("dmz", "/api/v1/audit/verify?witnesses=true");
    EXPECT_FALSE(api.value("ok", true)) << api.dump();
    EXPECT_EQ(api["witnesses"].value("outcome", ""), "failed") << api.dump();
  }

  Federation fed_{std::map<std::string, std::vector<std::string>>{
      {"dmz", {"internal", "pci"}}, {"internal", {"dmz", "pci"}}, {"pci", {"dmz", "internal"}}}};
};

TEST_F(WitnessTest, EveryDomainVerifiesAgainstItsWitnessesAndARestoredOldBackupIsCaught) {
  make_history();
  const fs::path backup = fed_.dir() / "dmz-early.db";
  ASSERT_EQ(
      run_meshfed({"backup", "--config", fed_.domain("dmz").config_file.string(), "--out", backup.string()}).exit_code,
      0);
  // More after the backup than the restore and a restart will add: the witnesses see dmz's
  // head go back.
  refuse_self_approvals(8);
  const int64_t witnessed = head_seq("dmz");
  for (const std::string d : {"dmz", "internal", "pci"}) {
    const auto verified = verify_witnesses(d);
    EXPECT_EQ(verified.exit_code, 0) << d << ": " << verified.output;
    EXPECT_NE(verified.output.find("agrees"), std::string::npos) << verified.output;
  }
  const json api = get("internal", "/api/v1/audit/verify?witnesses=true");
  EXPECT_TRUE(api.value("ok", false)) << api.dump();
  EXPECT_EQ(api["witnesses"]["peers"].size(), 2u) << api.dump();

  ASSERT_EQ(fed_.broker("dmz").stop(), 0);
  const auto restored =
      run_meshfed({"restore", "--config", fed_.domain("dmz").config_file.string(), "--from", backup.string()});
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
  // Printed before the restore finishes: the peers saw more than the backup holds.
  EXPECT_NE(restored.output.find("witness internal: CONTRADICTS"), std::string::npos) << restored.output;
  EXPECT_NE(restored.output.find("(rolled back)"), std::string::npos) << restored.output;
  expect_caught(witnessed);

  // The witnesses saw dmz's head go back: a conflict, counted, audited and shown with the peer.
  ASSERT_TRUE(wait_until([&] {
    return fed_.metric("internal", "meshfed_audit_witness_conflicts_total{peer=\"dmz\"}") > 0;
  })) << fed_.broker("internal").log();
  const json state = witness_of("internal", "dmz");
  EXPECT_EQ(state.value("state", ""), "conflict") << state.dump();
  EXPECT_EQ(state["conflicts"][0].value("seq", int64_t{0}), witnessed) << state.dump();
  EXPECT_NE(get("internal", "/api/v1/audit?limit=500").dump().find("audit.witness_conflict"), std::string::npos);
}

TEST_F(WitnessTest, AChainRewrittenFromAnEarlyEntryIsCaught) {
  make_history();
  refuse_self_approvals(1);
  const int64_t witnessed = head_seq("dmz");
  ASSERT_EQ(fed_.broker("dmz").stop(), 0);
  relink_chain(db_file(), 2, 0, /*rewrite=*/true);
  // On its own, the rewritten chain verifies: only the witnesses can tell.
  const auto alone = run_meshfed({"audit", "verify", "--config", fed_.domain("dmz").config_file.string()});
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  expect_caught(witnessed);
  EXPECT_NE(verify_witnesses("dmz").output.find("(rewritten)"), std::string::npos);
}

TEST_F(WitnessTest, EntriesDeletedAndTheChainRelinkedAreCaught) {
  make_history();
  refuse_self_approvals(3);
  const int64_t witnessed = head_seq("dmz");
  int64_t first_refusal = 0;
  const json audit = get("dmz", "/api/v1/audit?limit=500");
  for (const auto& e : audit["items"]) {
    if (e["action"] == "export.four_eyes_refused" && first_refusal == 0) first_refusal = e["seq"];
  }
  ASSERT_GT(first_refusal, 0) << audit.dump();
  ASSERT_EQ(fed_.broker("dmz").stop(), 0);
  // Two refused self-approvals go; the third and the broker.stopped after them are re-linked.
  relink_chain(db_file(), first_refusal, 2, /*rewrite=*/false);
  const auto alone = run_meshfed({"audit", "verify", "--config", fed_.domain("dmz").config_file.string()});
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  expect_caught(witnessed);
}

// A peer whose catalog's audit head is signed by a key that does not chain to its CA is
// refused; a /federation/v1/witness answer not countersigned by the witness proves nothing.
TEST_F(WitnessTest, ForgedSignaturesAreRefused) {
  wait_until_witnessed();
  const auto& dmz_pki = fed_.dir() / "dmz/pki";
  const auto& pci_pki = fed_.dir() / "pci/pki";
  const auto other_key = must(pki::Signer::load(pci_pki / "broker.pem", pci_pki / "broker-key.pem"));
  const auto own_key = must(pki::Signer::load(dmz_pki / "broker.pem", dmz_pki / "broker-key.pem"));
  const audit::Head head{7, std::string(64, 'a'), "2026-12-07T00:00:00.000Z"};
  std::mutex mu;
  json catalog = catalog_answer(json::array(), "dmz", 3);
  catalog["audit_head"] = audit::to_json(audit::SignedHead{head, other_key.sign(audit::signed_text("dmz", head))});
  json witness = {{"api_version", "v1"}, {"witness", "internal"}, {"heads", json::array()}};
  // Played by an in-process server holding dmz's real broker certificate (for internal) and
  // internal's (for dmz).
  HttpsFixture fake_dmz(dmz_pki / "broker.pem", dmz_pki / "broker-key.pem", [&](const http::Request&) {
    std::lock_guard lock(mu);
    return http::Response{200, "application/json", {}, catalog.dump(), "", {}};
  });
  const auto& internal_pki = fed_.dir() / "internal/pki";
  HttpsFixture fake_internal(internal_pki / "broker.pem", internal_pki / "broker-key.pem", [&](const http::Request&) {
    std::lock_guard lock(mu);
    return http::Response{200, "application/json", {}, witness.dump(), "", {}};
  });
  auto point = [&](const std::string& d, const std::string& peer, uint16_t port) {
    auto& domain = fed_.domain(d);
    for (auto& p : domain.config["peers"]) {
      if (p["domain"] == peer) p["url"] = "https://127.0.0.1:" + std::to_string(port);
    }
    domain.save_config();
  };
  point("internal", "dmz", fake_dmz.port());
  fed_.broker("internal").signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] {
    return fed_.metric("internal", "meshfed_peer_catalog_refusals_total{peer=\"dmz\",reason=\"audit_head\"}") > 0;
  })) << fed_.broker("internal").log();
  EXPECT_NE(fed_.broker("internal").log().find("was not made by the key of the certificate"), std::string::npos);
  EXPECT_NE(witness_of("internal", "dmz")["newest"].value("seq", int64_t{0}), 7);

  // Signed by dmz's own broker key, the same head is witnessed.
  {
    std::lock_guard lock(mu);
    catalog["audit_head"]["signature"] = own_key.sign(audit::signed_text("dmz", head));
  }
  ASSERT_TRUE(wait_until([&] { return witness_of("internal", "dmz")["newest"].value("seq", int64_t{0}) == 7; }))
      << witness_of("internal", "dmz").dump();

  // dmz asks "internal" (the fake) what it witnessed: a head countersigned by another key.
  audit::WitnessedHead forged{{head, own_key.sign(audit::signed_text("dmz", head))}, "2026-12-07T00:00:01.000Z", ""};
  forged.countersignature = other_key.sign(audit::countersigned_text("internal", "dmz", forged));
  {
    std::lock_guard lock(mu);
    witness["heads"].push_back(audit::to_json(forged));
  }
  point("dmz", "internal", fake_internal.port());
  const auto verified = verify_witnesses("dmz");
  EXPECT_EQ(verified.exit_code, 6) << verified.output;
  EXPECT_NE(verified.output.find("witness answer of peer internal refused: the countersignature of head seq 7"),
            std::string::npos)
      << verified.output;
  EXPECT_NE(verified.output.find("INCOMPLETE"), std::string::npos) << verified.output;
}

}  // namespace
}  // namespace meshfed::testing
