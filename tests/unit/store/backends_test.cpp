// Every repository operation on both backends: SQLite (a file, the embedded default) and
// PostgreSQL (a fresh database in the tests' own cluster). The SQL is written once; these
// tests are what says it means the same on both.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>

#include <atomic>
#include <thread>

#include "meshfed/store/copy.hpp"
#include "meshfed/store/read_pool.hpp"
#include "meshfed/store/replication.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "meshfed/store/catalog_repository.hpp"
#include "meshfed/store/export_repository.hpp"
#include "meshfed/store/import_repository.hpp"
#include "meshfed/store/peer_repository.hpp"
#include "meshfed/store/peering_repository.hpp"
#include "meshfed/store/replica_repository.hpp"
#include "meshfed/workflow/audit_verify.hpp"
#include "support/postgres_cluster.hpp"
#include "support/test_support.hpp"

namespace meshfed::store {
namespace {

using testing::must;

class StoreBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { db_ = open(); }

  // A connection to this test's store; a second one shares it (PostgreSQL only).
  std::unique_ptr<Database> open() {
    if (GetParam() == "sqlite") return std::move(Database::open(dir_ / "m.db")).value();
    if (conninfo_.empty()) conninfo_ = testing::PostgresCluster::shared().create_database();
    auto db = Database::open_postgres(conninfo_);
    EXPECT_TRUE(db.ok()) << db.error().message;
    return std::move(db).value();
  }

  // A read pool of `size` connections beside db_.
  std::unique_ptr<ReadPool> pool(int size) {
    auto p =
        GetParam() == "sqlite" ? ReadPool::open_sqlite(dir_ / "m.db", size) : ReadPool::open_postgres(conninfo_, size);
    EXPECT_TRUE(p.ok()) << p.error().message;
    return std::move(p).value();
  }

  static ExportRecord an_export(const std::string& id, const std::vector<std::string>& peers) {
    ExportRecord e;
    e.id = id;
    e.mesh = "default";
    e.service = "payments-api";
    e.port = 8443;
    e.protocol = "tcp";
    e.alias = id;
    e.peers = peers;
    e.metrics = {"http_*"};
    e.sni = id + ".pci.meshfed";
    e.requested_by = "alice";
    e.requested_at_ms = 1'800'000'000'000;
    e.reason = "checkout";
    e.ttl_s = 3600;
    e.pending_expires_at_ms = 1'800'000'600'000;
    return e;
  }

  static ImportRecord an_import(const std::string& peer, const std::string& export_id, std::optional<int> port) {
    ImportRecord r;
    r.id = peer + "." + export_id;
    r.peer = peer;
    r.export_id = export_id;
    r.alias = export_id;
    r.mesh = "default";
    r.service = "billing";
    r.port = 9000;
    r.protocol = "tcp";
    r.sni = export_id + "." + peer + ".meshfed";
    r.ingress_host = "10.0.0.1";
    r.ingress_port = 15443;
    r.state = ImportState::kActive;
    r.first_seen_ms = r.last_seen_ms = 1'800'000'000'000;
    r.expires_at_ms = 1'800'000'900'000;
    r.local_port = port;
    return r;
  }

  Status write(const std::function<void(const Writer&)>& body) {
    return db_->transaction([&](Writer& tx) -> Status {
      body(tx);
      return {};
    });
  }
  // What `body` reads, a Result unwrapped (a failed one fails the test).
  template <typename T, typename Body>
  T read(Body&& body) {
    T out{};
    EXPECT_TRUE(db_->read([&](Reader& tx) -> Status {
                     out = value_of(body(tx));
                     return {};
                   })
                    .ok());
    return out;
  }
  template <typename T>
  static T value_of(T v) {
    return v;
  }
  template <typename T>
  static T value_of(Result<T> r) {
    return must(std::move(r));
  }

  testing::TempDir dir_;
  std::string conninfo_;
  std::unique_ptr<Database> db_;
};

TEST_P(StoreBackendTest, MigratesToTheNewestSchemaOnceAndReopensWithoutApplyingAgain) {
  const auto& migrations = GetParam() == "sqlite" ? embedded_migrations() : embedded_postgres_migrations();
  EXPECT_EQ(db_->schema_version(), static_cast<int>(migrations.size()));
  db_.reset();
  db_ = open();
  EXPECT_EQ(db_->schema_version(), static_cast<int>(migrations.size()));
  EXPECT_EQ(read<int64_t>([&](const Reader& tx) {
              Statement s(tx, "SELECT COUNT(*) FROM schema_migrations");
              s.step();
              return s.int64(0);
            }),
            static_cast<int64_t>(migrations.size()));
}

TEST_P(StoreBackendTest, ExportsRoundTripWithPeersHistoryAndPaging) {
  ASSERT_TRUE(
      write([&](const Writer& tx) {
        ExportRepository exports(tx);
        must(ExportRepository(tx).insert(an_export("a", {"dmz", "internal"})));
        must(ExportRepository(tx).insert(an_export("b", {"dmz"})));
        auto c = an_export("c", {"internal"});
        c.l7 = R"({"grpc":["payments.v1.Rates/Get"]})";
        must(ExportRepository(tx).insert(c));
        auto b = *must(ExportRepository(tx).get("b"));
        b.state = ExportState::kApproved;
        b.decided_by = "bob";
        b.approved_at_ms = 1'800'000'100'000;
        b.expires_at_ms = 1'800'003'700'000;
        b.version = 2;
        b.l7_change = R"({"http":[{"methods":["GET"],"path":{"prefix":"/v2/"}}]})";
        b.l7_change_by = "alice";
        must(ExportRepository(tx).update(b));
        must(ExportRepository(tx).append_history(
            "b", {1'800'000'000'000, "alice", "requested", std::nullopt, ExportState::kPending, "", 1}));
        must(ExportRepository(tx).append_history(
            "b", {1'800'000'100'000, "bob", "approved", ExportState::kPending, ExportState::kApproved, "fine", 2}));
      }).ok());
  const auto b = read<std::optional<ExportRecord>>([&](const Reader& tx) { return ExportQueries(tx).get("b"); });
  ASSERT_TRUE(b);
  EXPECT_EQ(b->state, ExportState::kApproved);
  EXPECT_EQ(b->decided_by, "bob");
  EXPECT_EQ(b->expires_at_ms, 1'800'003'700'000);
  EXPECT_EQ(b->metrics, std::vector<std::string>{"http_*"});
  ASSERT_EQ(b->history.size(), 2u);
  EXPECT_EQ(b->history[1].comment, "fine");
  EXPECT_EQ(b->history[1].from, ExportState::kPending);
  EXPECT_FALSE(b->history[0].from);
  EXPECT_FALSE(b->l7) << "a TCP export";
  EXPECT_EQ(b->l7_change, R"({"http":[{"methods":["GET"],"path":{"prefix":"/v2/"}}]})");
  EXPECT_EQ(b->l7_change_by, "alice");
  const auto c = read<std::optional<ExportRecord>>([&](const Reader& tx) { return ExportQueries(tx).get("c"); });
  EXPECT_EQ(c->l7, R"({"grpc":["payments.v1.Rates/Get"]})");
  const auto a = read<std::optional<ExportRecord>>([&](const Reader& tx) { return ExportQueries(tx).get("a"); });
  EXPECT_EQ(a->peers, (std::vector<std::string>{"dmz", "internal"}));
  EXPECT_FALSE(a->decided_by);
  EXPECT_FALSE(a->expires_at_ms);

  const auto page = read<std::vector<ExportRecord>>([&](const Reader& tx) {
    return ExportQueries(tx).list({std::nullopt, a->seq, 1});
  });
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, "b");
  const auto pending = read<std::vector<ExportRecord>>([&](const Reader& tx) {
    return ExportQueries(tx).list({ExportState::kPending, 0, 100});
  });
  EXPECT_EQ(pending.size(), 2u);
  EXPECT_EQ(read<std::vector<std::string>>(
                [&](const Reader& tx) { return ExportQueries(tx).due_for_expiry(1'800'000'600'000); }),
            (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(read<std::optional<int64_t>>([&](const Reader& tx) { return ExportQueries(tx).next_deadline(); }),
            1'800'000'600'000);
  EXPECT_EQ(
      (read<std::map<std::string, int64_t>>([&](const Reader& tx) { return ExportQueries(tx).count_by_state(); })),
      (std::map<std::string, int64_t>{{"approved", 1}, {"pending", 2}}));
  const auto by_peer = read<std::map<std::pair<std::string, std::string>, int64_t>>(
      [&](const Reader& tx) { return ExportQueries(tx).count_by_peer_and_state(); });
  EXPECT_EQ(by_peer.at({"dmz", "pending"}), 1);
  EXPECT_EQ(by_peer.at({"internal", "pending"}), 2);
  EXPECT_EQ(read<std::vector<std::string>>(
                [&](const Reader& tx) { return ExportQueries(tx).live_ids_with_alias("b", "dmz"); }),
            std::vector<std::string>{"b"});
  EXPECT_FALSE(read<bool>([&](const Reader& tx) { return ExportQueries(tx).exists("zzz"); }));
}

// The metrics exporter and the target check read only what they need, whatever the catalog's
// size: the exports that name metrics (per peer), and approved exports grouped by target.
TEST_P(StoreBackendTest, MetricSelectionsAndTargetsReadOnlyWhatTheyNeed) {
  auto approve = [](ExportRecord e, int64_t expires_at_ms) {
    e.state = ExportState::kApproved;
    e.approved_at_ms = 1'800'000'000'000;
    e.expires_at_ms = expires_at_ms;
    return e;
  };
  ASSERT_TRUE(write([&](const Writer& tx) {
                ExportRepository exports(tx);
                auto no_metrics = an_export("plain", {"dmz"});
                no_metrics.metrics.clear();
                auto other_port = an_export("ledger", {"dmz"});
                other_port.service = "ledger";
                other_port.port = 5432;
                for (const auto& e :
                     {approve(an_export("both", {"dmz", "internal"}), 1'800'000'900'000),
                      approve(no_metrics, 1'800'000'900'000), approve(an_export("lapsed", {"dmz"}), 1'800'000'000'500),
                      approve(other_port, 1'800'000'900'000), an_export("pending", {"dmz"})}) {
                  must(ExportRepository(tx).insert(e));
                  must(ExportRepository(tx).update(e));
                }
              }).ok());
  const auto selections = read<std::vector<ExportQueries::MetricSelection>>(
      [&](const Reader& tx) { return ExportQueries(tx).metric_selections(1'800'000'001'000); });
  ASSERT_EQ(selections.size(), 3u);  // "both" once per peer, "ledger"; not plain, lapsed or pending
  EXPECT_EQ(selections[0].peer, "dmz");
  EXPECT_EQ(selections[0].alias, "both");
  EXPECT_EQ(selections[0].metrics, std::vector<std::string>{"http_*"});
  EXPECT_EQ(selections[1].peer, "internal");
  EXPECT_EQ(selections[2].service, "ledger");

  const auto targets = read<std::vector<ExportRepository::Target>>(
      [&](const Reader& tx) { return ExportQueries(tx).approved_targets(); });
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].service, "ledger");
  EXPECT_EQ(targets[0].port, 5432);
  EXPECT_EQ(targets[0].exports, 1);
  EXPECT_EQ(targets[1].service, "payments-api");
  EXPECT_EQ(targets[1].exports, 3);  // both, plain and lapsed (still approved until the sweep)
}

TEST_P(StoreBackendTest, TheCatalogCountsRevisionsListsChangesAndPrunes) {
  EXPECT_EQ(read<int64_t>([&](const Reader& tx) { return CatalogQueries(tx).revision(); }), 1);
  ASSERT_TRUE(write([&](const Writer& tx) {
                ExportRepository exports(tx);
                for (const std::string id : {"a", "b"}) {
                  auto e = an_export(id, {"dmz"});
                  must(exports.insert(e));
                  e.state = ExportState::kApproved;
                  e.expires_at_ms = 1'900'000'000'000;
                  must(exports.update(e));
                }
                must(CatalogRepository(tx).record_change("a", 1));
                must(CatalogRepository(tx).record_change("b", 2));
                must(CatalogRepository(tx).record_change("a", 3));
              }).ok());
  EXPECT_EQ(read<int64_t>([&](const Reader& tx) { return CatalogQueries(tx).revision(); }), 4);
  EXPECT_EQ(read<std::vector<std::string>>([&](const Reader& tx) { return CatalogQueries(tx).changed_after(2); }),
            (std::vector<std::string>{"b", "a"}));
  const auto visible = read<std::vector<ExportRecord>>(
      [&](const Reader& tx) { return CatalogQueries(tx).visible_to("dmz", 1'800'000'000'000); });
  ASSERT_EQ(visible.size(), 2u);
  EXPECT_EQ(visible[0].id, "a");
  EXPECT_TRUE(read<std::vector<ExportRecord>>([&](const Reader& tx) {
                return CatalogQueries(tx).visible_to("internal", 0);
              }).empty());
  EXPECT_TRUE(read<bool>([&](const Reader& tx) { return CatalogQueries(tx).scoped_to("a", "dmz"); }));
  EXPECT_FALSE(read<bool>([&](const Reader& tx) { return CatalogQueries(tx).scoped_to("a", "internal"); }));
  ASSERT_TRUE(write([&](const Writer& tx) { must(CatalogRepository(tx).prune(1)); }).ok());
  EXPECT_EQ(read<int64_t>([&](const Reader& tx) { return CatalogQueries(tx).floor(); }), 3);
  EXPECT_EQ(read<std::vector<std::string>>([&](const Reader& tx) { return CatalogQueries(tx).changed_after(0); }),
            std::vector<std::string>{"a"});
}

TEST_P(StoreBackendTest, ImportsAreUpsertedByIdAndAnEgressPortIsHeldByOneImportOnly) {
  ASSERT_TRUE(write([&](const Writer& tx) {
                must(ImportRepository(tx).save(an_import("dmz", "e1", 16000)));
                must(ImportRepository(tx).save(an_import("dmz", "e2", std::nullopt)));
                must(ImportRepository(tx).save(an_import("internal", "e1", 16001)));
                auto again = an_import("dmz", "e1", 16000);
                again.state = ImportState::kStale;
                again.version = 2;
                again.l7 = R"({"grpc":["a.B/*"]})";
                must(ImportRepository(tx).save(again));
              }).ok());
  const auto e1 = read<std::optional<ImportRecord>>([&](const Reader& tx) { return ImportQueries(tx).get("dmz.e1"); });
  ASSERT_TRUE(e1);
  EXPECT_EQ(e1->state, ImportState::kStale);
  EXPECT_EQ(e1->version, 2);
  EXPECT_EQ(e1->local_port, 16000);
  EXPECT_EQ(e1->l7, R"({"grpc":["a.B/*"]})");
  EXPECT_EQ(read<std::vector<ImportRecord>>([&](const Reader& tx) { return ImportQueries(tx).for_peer("dmz"); }).size(),
            2u);
  EXPECT_EQ(read<std::vector<ImportRecord>>([&](const Reader& tx) {
              return ImportQueries(tx).for_peer("dmz", {ImportState::kStale});
            }).size(),
            1u);
  EXPECT_EQ(read<std::vector<std::string>>([&](const Reader& tx) {
              return ImportQueries(tx).export_ids("dmz", {ImportState::kStale});
            }).size(),
            1u);
  EXPECT_EQ(read<int64_t>([&](const Reader& tx) { return ImportQueries(tx).failed_without_port(); }), 0);
  const auto dmz_counts =
      read<std::map<std::string, int64_t>>([&](const Reader& tx) { return ImportQueries(tx).count_by_state("dmz"); });
  int64_t dmz_total = 0;
  for (const auto& [state, n] : dmz_counts) dmz_total += n;
  EXPECT_EQ(dmz_total, 2);
  EXPECT_EQ(dmz_counts.at("stale"), 1);
  EXPECT_TRUE((read<std::map<std::string, int64_t>>([&](const Reader& tx) {
                 return ImportQueries(tx).count_by_state("nobody");
               }).empty()));
  const std::vector<ImportState> not_final = {ImportState::kPendingAcceptance, ImportState::kActive,
                                              ImportState::kStale, ImportState::kFailed};
  EXPECT_EQ(read<std::vector<ImportRecord>>([&](const Reader& tx) {
              return ImportQueries(tx).expiring(1'800'000'900'000, not_final);
            }).size(),
            3u);
  EXPECT_EQ(read<std::vector<ImportRecord>>([&](const Reader& tx) { return ImportQueries(tx).list(0, 2); }).size(), 2u);
  EXPECT_EQ(read<std::vector<ImportRecord>>([&](const Reader& tx) {
              return ImportQueries(tx).in_states({ImportState::kActive});
            }).size(),
            2u);
  EXPECT_EQ(read<std::set<std::string>>([&](const Reader& tx) { return ImportQueries(tx).aliases("dmz", not_final); }),
            (std::set<std::string>{"e1", "e2"}));
  ASSERT_TRUE(write([&](const Writer& tx) {
                auto gone = an_import("dmz", "e2", std::nullopt);
                gone.state = ImportState::kWithdrawn;
                must(ImportRepository(tx).save(gone));
              }).ok());
  EXPECT_EQ(read<std::set<std::string>>([&](const Reader& tx) { return ImportQueries(tx).aliases("dmz", not_final); }),
            std::set<std::string>{"e1"});
  EXPECT_EQ((read<std::vector<std::pair<int, std::string>>>(
                [&](const Reader& tx) { return ImportQueries(tx).used_ports(); })),
            (std::vector<std::pair<int, std::string>>{{16000, "dmz"}, {16001, "internal"}}));
  // A port held twice is refused by the store itself, and the transaction changes nothing.
  EXPECT_FALSE(write([&](const Writer& tx) {
                 must(ImportRepository(tx).save(an_import("dmz", "e3", std::nullopt)));
                 must(ImportRepository(tx).save(an_import("dmz", "e4", 16001)));
               }).ok());
  EXPECT_FALSE(read<std::optional<ImportRecord>>([&](const Reader& tx) { return ImportQueries(tx).get("dmz.e3"); }));
}

TEST_P(StoreBackendTest, APeerReadsAsNewUntilSavedAndThenAsSaved) {
  const auto fresh = read<PeerRecord>([&](const Reader& tx) { return PeerQueries(tx).get("dmz"); });
  EXPECT_EQ(fresh.revision, 0);
  EXPECT_FALSE(fresh.last_success_ms);
  PeerRecord p = fresh;
  p.revision = 7;
  p.last_success_ms = 1'800'000'000'000;
  p.last_error = "connection refused";
  p.last_error_ms = 1'799'999'000'000;
  p.last_refusal = "size";
  ASSERT_TRUE(write([&](const Writer& tx) { must(PeerRepository(tx).save(p)); }).ok());
  p.revision = 8;
  ASSERT_TRUE(write([&](const Writer& tx) { must(PeerRepository(tx).save(p)); }).ok());
  const auto saved = read<PeerRecord>([&](const Reader& tx) { return PeerQueries(tx).get("dmz"); });
  EXPECT_EQ(saved.revision, 8);
  EXPECT_EQ(saved.last_error, "connection refused");
  EXPECT_EQ(saved.last_error_ms, 1'799'999'000'000);
  EXPECT_EQ(saved.last_refusal, "size");
  EXPECT_FALSE(saved.quarantined_since_ms);
}

TEST_P(StoreBackendTest, TheAuditChainAppendsAndVerifies) {
  ASSERT_TRUE(write([&](const Writer& tx) {
                for (int i = 0; i < 3; ++i) {
                  must(AuditRepository(tx).append(from_unix_ms(1'800'000'000'000 + i), "alice", "export.requested",
                                                  "export/a", {{"n", i}}));
                }
              }).ok());
  const auto head = read<AuditRepository::Head>([&](const Reader& tx) { return AuditQueries(tx).head(); });
  EXPECT_EQ(head.seq, 3);
  const auto entries = read<std::vector<audit::Entry>>([&](const Reader& tx) { return AuditQueries(tx).list(1, 10); });
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].hash, head.hash);
  EXPECT_EQ(entries[0].details["n"], 1);
  EXPECT_EQ(read<std::optional<audit::Entry>>([&](const Reader& tx) { return AuditQueries(tx).get(2); })->prev_hash,
            read<std::optional<audit::Entry>>([&](const Reader& tx) { return AuditQueries(tx).get(1); })->hash);
  auto report = workflow::verify_audit(*db_, std::nullopt);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->entries, 3);
}

TEST_P(StoreBackendTest, AFailedTransactionAndAnInjectedFaultChangeNothing) {
  auto refused = db_->transaction([&](store::Writer& tx) -> Status {
    must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {}));
    return make_error(ErrorCode::kInvalidArgument, "no");
  });
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  db_->fail_nth_statement(2);
  auto faulted = write([&](const Writer& tx) {
    must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {}));
    must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {}));
  });
  db_->fail_nth_statement(0);
  EXPECT_EQ(faulted.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(read<AuditRepository::Head>([&](const Reader& tx) { return AuditQueries(tx).head(); }).seq, 0);
  // And the connection is usable afterwards: no transaction was left open.
  ASSERT_TRUE(
      write([&](const Writer& tx) { must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {})); }).ok());
  EXPECT_EQ(read<AuditRepository::Head>([&](const Reader& tx) { return AuditQueries(tx).head(); }).seq, 1);
}

// A repository operation that fails is its Error, not an exception: the body goes on and sees
// which operation failed. The transaction still rolls back even when the body ignores the error
// and returns success, and it counts as a write failure until a write succeeds again.
TEST_P(StoreBackendTest, AFailedOperationIsAnErrorAndItsTransactionNeverCommits) {
  db_->fail_nth_statement(2);  // the first append's insert: its head read is the first
  std::optional<Error> seen;
  bool body_went_on = false;
  const Status st = db_->transaction([&](store::Writer& tx) -> Status {
    const auto first = AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {});
    if (!first) seen = first.error();
    body_went_on = true;
    return {};  // as a body that ignores the failure would
  });
  db_->fail_nth_statement(0);
  ASSERT_TRUE(seen.has_value());
  EXPECT_TRUE(body_went_on);
  EXPECT_EQ(seen->code, ErrorCode::kUnavailable);
  EXPECT_NE(seen->message.find("cannot append to the audit log"), std::string::npos) << seen->message;
  ASSERT_FALSE(st.ok()) << "the transaction committed past a failed operation";
  EXPECT_EQ(st.error().message, seen->message);
  EXPECT_TRUE(db_->write_failure().has_value()) << "a store failure is a write failure (readiness)";
  EXPECT_EQ(read<AuditRepository::Head>([&](const Reader& tx) { return AuditQueries(tx).head(); }).seq, 0);

  // A business rule's refusal is no write failure; the next write clears the one before.
  EXPECT_FALSE(
      db_->transaction([](store::Writer&) -> Status { return make_error(ErrorCode::kInvalidArgument, "no"); }).ok());
  EXPECT_TRUE(db_->write_failure().has_value());
  ASSERT_TRUE(
      write([&](const Writer& tx) { must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {})); }).ok());
  EXPECT_FALSE(db_->write_failure().has_value());
}

TEST_P(StoreBackendTest, StatementsArePreparedOnceAndReusedWhateverHappenedToTheLastUse) {
  ASSERT_TRUE(
      write([&](const Writer& tx) { must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {})); }).ok());
  const int64_t prepared = db_->statements_prepared();
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(read<AuditRepository::Head>([&](const Reader& tx) { return AuditQueries(tx).head(); }).seq, 1);
  EXPECT_EQ(db_->statements_prepared(), prepared) << "the head query was prepared again";

  // Two uses of one SQL at once each get their own, and step independently.
  ASSERT_TRUE(db_->read([&](store::Reader& tx) -> Status {
                   Statement outer(tx, "SELECT seq FROM audit ORDER BY seq");
                   EXPECT_TRUE(outer.step());
                   Statement inner(tx, "SELECT seq FROM audit ORDER BY seq");
                   EXPECT_TRUE(inner.step());
                   EXPECT_EQ(inner.int64(0), 1);
                   EXPECT_FALSE(inner.step());
                   EXPECT_EQ(outer.int64(0), 1);
                   return {};
                 })
                  .ok());

  // A statement whose last run failed (a duplicate key) serves the next one cleanly.
  auto duplicate = write([&](const Writer& tx) {
    Statement(tx, "INSERT INTO meta(key, value) VALUES (?, ?)").bind(1, "catalog_floor").bind(2, "x").exec();
  });
  EXPECT_FALSE(duplicate.ok()) << "the key exists";
  ASSERT_TRUE(write([&](const Writer& tx) {
                Statement(tx, "INSERT INTO meta(key, value) VALUES (?, ?)").bind(1, "pool-test").bind(2, "1").exec();
              }).ok());
  EXPECT_EQ(read<std::string>([&](const Reader& tx) {
              Statement s(tx, "SELECT value FROM meta WHERE key = ?");
              s.bind(1, "pool-test");
              return s.step() ? s.text(0) : std::string();
            }),
            "1");

  // SQL that differs every time (a growing IN list) is kept within bounds.
  for (int n = 1; n <= 400; ++n) {
    std::string sql = "SELECT count(*) FROM audit WHERE seq IN (?";
    for (int i = 1; i < n; ++i) sql += ",?";
    ASSERT_TRUE(db_->read([&](store::Reader& tx) -> Status {
                     Statement s(tx, sql + ")");
                     for (int i = 1; i <= n; ++i) s.bind(i, i);
                     EXPECT_TRUE(s.step());
                     return {};
                   })
                    .ok());
  }
  EXPECT_LT(db_->idle_statements(), 300u) << "400 distinct statements ran; at most 256 are kept";
}

TEST_P(StoreBackendTest, ASoundStorePassesItsIntegrityCheckAndAWriteProbeClearsAWriteFailure) {
  ASSERT_TRUE(
      write([&](const Writer& tx) { must(ExportRepository(tx).insert(an_export("exp-1", {"internal"}))); }).ok());
  for (const bool full : {false, true}) {
    auto problems = db_->check_integrity(full);
    ASSERT_TRUE(problems.ok()) << problems.error().message;
    EXPECT_TRUE(problems->empty()) << (problems->empty() ? "" : problems->front());
  }
  db_->fail_next_commit();
  EXPECT_FALSE(
      write([&](const Writer& tx) { must(ExportRepository(tx).insert(an_export("exp-2", {"internal"}))); }).ok());
  ASSERT_TRUE(db_->write_failure());
  ASSERT_TRUE(db_->probe_write().ok());
  EXPECT_FALSE(db_->write_failure());
  ASSERT_TRUE(db_->probe_write().ok()) << "the probe's row is updated, not inserted twice";
}

TEST_P(StoreBackendTest, AnImportKeepsTheNewestStepsOfItsHistoryOnly) {
  const int64_t steps = ImportRepository::kImportStepsKept + 5;
  ASSERT_TRUE(write([&](const Writer& tx) {
                ImportRepository repo(tx);
                for (int64_t n = 1; n <= steps; ++n) {
                  must(repo.append_history(
                      {"dmz.x", n, 1'800'000'000'000 + n, "dmz", "active", "active", "changed: alias", n}));
                }
              }).ok());
  const auto kept =
      read<std::vector<ImportHistoryEntry>>([&](const Reader& tx) { return ImportQueries(tx).history("dmz.x", 5000); });
  ASSERT_EQ(static_cast<int64_t>(kept.size()), ImportRepository::kImportStepsKept);
  EXPECT_EQ(kept.front().n, 6) << "the oldest go first";
  EXPECT_EQ(kept.back().n, steps);
}

TEST_P(StoreBackendTest, ReplicasAreListedByTheirLastHeartbeatWithOneLeader) {
  auto beat = [&](const std::string& id, bool leader, int64_t at) {
    return db_->autocommit([&](store::Writer& tx) -> Status {
      must(ReplicaRepository(tx).heartbeat({id, id + ":9440", leader, at}));
      return {};
    });
  };
  ASSERT_TRUE(beat("a", true, 1000).ok());
  ASSERT_TRUE(beat("b", false, 2000).ok());
  ASSERT_TRUE(beat("c", false, 500).ok());
  ASSERT_TRUE(beat("b", true, 3000).ok());  // b took over; a has not heard yet
  const auto seen =
      read<std::vector<ReplicaRecord>>([&](const Reader& tx) { return ReplicaQueries(tx).seen_since(1000); });
  ASSERT_EQ(seen.size(), 2u);  // c is too old
  EXPECT_EQ(seen[0].id, "a");
  EXPECT_FALSE(seen[0].leader);
  EXPECT_EQ(seen[1].id, "b");
  EXPECT_TRUE(seen[1].leader);
  EXPECT_EQ(seen[1].address, "b:9440");
  EXPECT_EQ(seen[1].last_heartbeat_ms, 3000);
}

// A new, empty store of `kind`: a SQLite file named `name`, or a fresh PostgreSQL database.
std::unique_ptr<Database> new_store(const std::string& kind, const std::filesystem::path& file) {
  auto db = kind == "sqlite" ? Database::open(file)
                             : Database::open_postgres(testing::PostgresCluster::shared().create_database());
  EXPECT_TRUE(db.ok()) << db.error().message;
  return std::move(db).value();
}

// `meshfed store copy`: a domain's state moves to the other backend and back with nothing lost,
// the audit chain ending where it ended, and numbering carrying on after the copied rows.
TEST_P(StoreBackendTest, APeeringIsProposedApprovedGivenANextBundleAndRemoved) {
  PeeringRecord p;
  p.domain = "edge";
  p.bundle = R"({"bundle_version":1,"domain":"edge"})";
  p.import_policy = "auto";
  p.max_exports = 50;
  p.reason = "the new site";
  p.proposed_by = "root";
  p.proposed_ms = 1'800'000'000'000;
  ASSERT_TRUE(write([&](const Writer& tx) { must(PeeringRepository(tx).save(p)); }).ok());
  PeeringRecord other = p;
  other.domain = "branch";
  ASSERT_TRUE(write([&](const Writer& tx) { must(PeeringRepository(tx).save(other)); }).ok());

  auto read_back = read<std::optional<PeeringRecord>>([&](const Reader& tx) { return PeeringQueries(tx).get("edge"); });
  ASSERT_TRUE(read_back.has_value());
  EXPECT_EQ(read_back->state, PeeringState::kProposed);
  EXPECT_EQ(read_back->bundle, p.bundle);
  EXPECT_EQ(read_back->import_policy, "auto");
  EXPECT_EQ(read_back->max_exports, 50);
  EXPECT_FALSE(read_back->max_egress_ports.has_value());
  EXPECT_FALSE(read_back->approved_by.has_value());

  p.state = PeeringState::kActive;
  p.approved_by = "rita";
  p.approved_ms = 1'800'000'060'000;
  p.max_egress_ports = 4;
  p.next_bundle = R"({"bundle_version":1,"domain":"edge","next":true})";
  p.next_by = "root";
  p.next_ms = 1'800'000'120'000;
  p.version = 3;
  ASSERT_TRUE(write([&](const Writer& tx) { must(PeeringRepository(tx).save(p)); }).ok());
  read_back = read<std::optional<PeeringRecord>>([&](const Reader& tx) { return PeeringQueries(tx).get("edge"); });
  ASSERT_TRUE(read_back.has_value());
  EXPECT_EQ(read_back->state, PeeringState::kActive);
  EXPECT_EQ(read_back->approved_by, "rita");
  EXPECT_EQ(read_back->approved_ms, 1'800'000'060'000);
  EXPECT_EQ(read_back->max_egress_ports, 4);
  EXPECT_EQ(read_back->next_bundle, p.next_bundle);
  EXPECT_EQ(read_back->next_by, "root");
  EXPECT_EQ(read_back->version, 3);

  const auto all = read<std::vector<PeeringRecord>>([&](const Reader& tx) { return PeeringQueries(tx).list(); });
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].domain, "branch") << "listed by domain";

  bool removed = false, again = true;
  ASSERT_TRUE(write([&](const Writer& tx) {
                removed = must(PeeringRepository(tx).remove("edge"));
                again = must(PeeringRepository(tx).remove("edge"));
              }).ok());
  EXPECT_TRUE(removed);
  EXPECT_FALSE(again);
  EXPECT_FALSE(read<std::optional<PeeringRecord>>([&](const Reader& tx) { return PeeringQueries(tx).get("edge"); }));

  // A state this binary does not know is a failed read, never a default.
  db_->execute("UPDATE peerings SET state = 'frozen' WHERE domain = 'branch'");
  const Status st = db_->read([&](Reader& tx) -> Status {
    return PeeringQueries(tx).get("branch").ok() ? Status{} : make_error(ErrorCode::kInternal, "refused");
  });
  EXPECT_FALSE(st.ok());
}

TEST_P(StoreBackendTest, ACopyToTheOtherBackendAndBackKeepsEverything) {
  ASSERT_TRUE(
      write([&](const Writer& tx) {
        ExportRepository exports(tx);
        CatalogRepository catalog(tx);
        AuditRepository audit(tx);
        auto e = an_export("a", {"dmz", "internal"});
        must(exports.insert(e));
        must(exports.append_history(
            "a", {1'800'000'000'000, "alice", "requested", std::nullopt, ExportState::kPending, "", 1}));
        must(exports.insert(an_export("b", {"dmz"})));
        must(catalog.record_change("a", 1));
        must(ImportRepository(tx).save(an_import("dmz", "e1", 16000)));
        PeerRecord p;
        p.domain = "dmz";
        p.revision = 7;
        p.last_error = "it's \"quoted\"\nand multi-line";
        must(PeerRepository(tx).save(p));
        for (int i = 0; i < 3; ++i) {
          must(audit.append(from_unix_ms(i), "alice", i == 0 ? "export.requested" : "x", "export/a", {{"n", i}}));
        }
        must(ReplicaRepository(tx).heartbeat({"r1", "h:1", true, 1}));
        PeeringRecord peering;
        peering.domain = "edge";
        peering.bundle = R"({"domain":"edge"})";
        peering.proposed_by = "root";
        peering.reason = "new site";
        must(PeeringRepository(tx).save(peering));
      }).ok());
  const std::string other = GetParam() == "sqlite" ? "postgres" : "sqlite";
  auto there = new_store(other, dir_ / "there.db");
  auto copied = copy_store(*db_, *there);
  ASSERT_TRUE(copied.ok()) << copied.error().message;
  EXPECT_EQ(copied->rows.at("exports"), 2);
  EXPECT_EQ(copied->rows.at("audit"), 3);
  EXPECT_EQ(copied->rows.count("replicas"), 0u);  // each replica reports itself again
  auto back = new_store(GetParam(), dir_ / "back.db");
  ASSERT_TRUE(copy_store(*there, *back).ok());
  for (Database* db : {there.get(), back.get()}) {
    auto report = workflow::verify_audit(*db, workflow::ExpectedHead{3, read<AuditQueries::Head>([&](const Reader& tx) {
                                                                          return AuditQueries(tx).head();
                                                                        }).hash});
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_TRUE(report->ok) << report->problem;
    ASSERT_TRUE(db->transaction([&](store::Writer& tx) -> Status {
                    ExportRepository exports(tx);
                    const auto a = must(exports.get("a"));
                    EXPECT_TRUE(a && a->peers == (std::vector<std::string>{"dmz", "internal"}));
                    EXPECT_EQ(a->history.size(), 1u);
                    EXPECT_EQ(must(PeerRepository(tx).get("dmz")).last_error, "it's \"quoted\"\nand multi-line");
                    EXPECT_EQ(must(ImportRepository(tx).get("dmz.e1"))->local_port, 16000);
                    EXPECT_EQ(must(CatalogRepository(tx).revision()), 2);
                    EXPECT_EQ(must(PeeringRepository(tx).get("edge"))->bundle, R"({"domain":"edge"})");
                    must(exports.insert(an_export("c", {"dmz"})));  // numbered after the copied rows
                    EXPECT_EQ(must(exports.list({std::nullopt, 2, 10})).size(), 1u);
                    EXPECT_EQ(must(AuditRepository(tx).append(from_unix_ms(9), "bob", "y", "z", {})).seq, 4);
                    return {};
                  }).ok());
  }
  // A copy never merges: into a store that holds state it is refused, and changes nothing.
  auto refused = copy_store(*db_, *back);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("already holds state"), std::string::npos) << refused.error().message;
  EXPECT_EQ(workflow::verify_audit(*back, std::nullopt)->entries, 4);
}

// What only a shared database has to hold: one broker owns a SQLite file.
using SharedStoreTest = StoreBackendTest;

// Ends every other meshfed session on this test's database, as a server restart would.
void end_other_sessions(Database& db) {
  db.execute(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'meshfed' "
      "AND datname = current_database() AND pid <> pg_backend_pid()");
}

// Replicas write through connections of their own: their transactions take turns, so the audit
// chain stays one chain, with no two entries claiming the same predecessor.
TEST_P(SharedStoreTest, TwoConnectionsWritingAtOnceKeepOneAuditChain) {
  std::vector<std::unique_ptr<Database>> replicas;
  for (int i = 0; i < 2; ++i) replicas.push_back(open());
  std::vector<std::thread> writers;
  for (auto& replica : replicas) {
    writers.emplace_back([db = replica.get()] {
      for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(db->transaction([&](store::Writer& tx) -> Status {
                        must(AuditRepository(tx).append(from_unix_ms(1'800'000'000'000 + i), "system", "tick", "test",
                                                        {{"i", i}}));
                        return {};
                      }).ok());
      }
    });
  }
  for (auto& w : writers) w.join();
  auto report = workflow::verify_audit(*db_, std::nullopt);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->entries, 100);
}

// A read sees one snapshot: another replica's commit between two of its statements is not half
// seen (a catalog revision read before the change list would otherwise miss a change for good).
TEST_P(SharedStoreTest, AReadSeesOneSnapshotWhileAnotherReplicaCommits) {
  ASSERT_TRUE(write([&](const Writer& tx) { must(ExportRepository(tx).insert(an_export("a", {"dmz"}))); }).ok());
  auto other = open();
  int64_t first = 0, second = 0;
  ASSERT_TRUE(db_->read([&](store::Reader& tx) -> Status {
                   first = must(CatalogQueries(tx).revision());
                   EXPECT_TRUE(other
                                   ->transaction([&](store::Writer& other_tx) -> Status {
                                     must(CatalogRepository(other_tx).record_change("a", 1));
                                     return {};
                                   })
                                   .ok());
                   second = must(CatalogQueries(tx).revision());
                   return {};
                 })
                  .ok());
  EXPECT_EQ(first, second);
  EXPECT_EQ(read<int64_t>([&](const Reader& tx) { return CatalogQueries(tx).revision(); }), first + 1);
}

// Acknowledged means committed on the server's disk whatever the server or database default:
// a database whose default has been turned off still gets synchronous commits from meshfed.
TEST_P(SharedStoreTest, CommitsAreSynchronousWhateverTheDatabaseDefault) {
  db_->execute(
      "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$");
  auto fresh = open();
  std::string setting;
  ASSERT_TRUE(fresh
                  ->read([&](store::Reader& tx) -> Status {
                    Statement s(tx, "SHOW synchronous_commit");
                    if (s.step()) setting = s.text(0);
                    return {};
                  })
                  .ok());
  EXPECT_EQ(setting, "on");
}

// Leadership is one session's lock: a second replica cannot take it while the first holds it,
// and takes it once the first gives it up. Each taking begins the next term, recorded with the
// replica and the server's time.
TEST_P(SharedStoreTest, OneReplicaLeadsAndAnotherTakesOverWhenItsSessionEnds) {
  const auto t = std::chrono::seconds(2);
  auto first = postgres_leader_lock(conninfo_, "pci-a");
  auto second = postgres_leader_lock(conninfo_, "pci-b");
  EXPECT_EQ(first->try_acquire(t).value(), 1);
  EXPECT_EQ(first->confirm(t).value(), 1);
  EXPECT_EQ(second->try_acquire(t).value(), std::nullopt);
  EXPECT_FALSE(second->confirm(t).ok());  // holding a session is not holding the lock
  first->release();
  EXPECT_FALSE(first->confirm(t).ok());
  // The server frees the lock once the ended session's process has gone: at once, or nearly.
  std::optional<int64_t> term;
  EXPECT_TRUE(testing::wait_until([&] {
    auto r = second->try_acquire(t);
    return r.ok() && (term = *r);
  }));
  EXPECT_EQ(term, 2);
  EXPECT_EQ(second->confirm(t).value(), 2);
  EXPECT_EQ(first->try_acquire(t).value(), std::nullopt);
  std::vector<std::string> replicas;
  ASSERT_TRUE(db_->read([&](store::Reader& tx) -> Status {
                   Statement s(tx, "SELECT replica, started_ms FROM leader_terms ORDER BY term");
                   while (s.step()) {
                     replicas.push_back(s.text(0));
                     EXPECT_GT(s.int64(1), to_unix_ms(std::chrono::system_clock::now()) - 60'000);
                   }
                   return {};
                 })
                  .ok());
  EXPECT_EQ(replicas, (std::vector<std::string>{"pci-a", "pci-b"}));
}

// A leader-only transaction runs only under the store's current term: a replica whose term has
// ended writes nothing, checked inside the transaction, and says why.
TEST_P(SharedStoreTest, ALeaderOnlyTransactionIsRefusedOnceItsTermHasEnded) {
  const auto t = std::chrono::seconds(2);
  auto lock = postgres_leader_lock(conninfo_, "pci-a");
  ASSERT_EQ(lock->try_acquire(t).value(), 1);
  std::optional<int64_t> mine = 1;
  db_->set_leader_term([&] { return mine; });
  auto append = [&] {
    return db_->leader_transaction([&](store::Writer& tx) -> Status {
      must(AuditRepository(tx).append(from_unix_ms(0), "system", "x", "y", {}));
      return {};
    });
  };
  EXPECT_TRUE(append().ok());
  lock->release();
  auto next = postgres_leader_lock(conninfo_, "pci-b");
  ASSERT_TRUE(testing::wait_until([&] {
    auto r = next->try_acquire(t);
    return r.ok() && r->has_value();
  }));
  const auto refused = append();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("term 1 has ended (term 2 is current)"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(db_->write_failure());  // a rule, not a failing store
  mine.reset();
  EXPECT_FALSE(append().ok());
  mine = 2;
  EXPECT_TRUE(append().ok());
  int64_t entries = 0;
  ASSERT_TRUE(db_->read([&](store::Reader& tx) -> Status {
                   entries = must(AuditQueries(tx).head()).seq;
                   return {};
                 })
                  .ok());
  EXPECT_EQ(entries, 2);
}

// A leader whose session the server ended (as it does to a replica cut off from it) learns it
// at its next confirmation.
TEST_P(SharedStoreTest, ALeaderWhoseSessionWasEndedLearnsItAtItsNextConfirmation) {
  const auto t = std::chrono::seconds(2);
  auto leader = postgres_leader_lock(conninfo_, "pci-a");
  ASSERT_TRUE(leader->try_acquire(t).value());
  end_other_sessions(*db_);
  EXPECT_FALSE(leader->confirm(t).ok());
  auto other = postgres_leader_lock(conninfo_, "pci-b");
  EXPECT_TRUE(testing::wait_until([&] {
    auto r = other->try_acquire(t);
    return r.ok() && r->has_value();
  }));
}

// Commits announce themselves to the other replicas' change feeds, never to the committer's own.
TEST_P(SharedStoreTest, ACommitWakesTheOtherReplicasChangeFeed) {
  const auto t = std::chrono::milliseconds(2000);
  auto feed = postgres_change_feed(conninfo_);
  ASSERT_TRUE(feed->wait(t).value());  // a new feed cannot know what it missed
  EXPECT_FALSE(feed->wait(std::chrono::milliseconds(50)).value());
  // The committer here is this process: its own commits wake nobody in it ...
  ASSERT_TRUE(
      write([&](const Writer& tx) { must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {})); }).ok());
  EXPECT_FALSE(feed->wait(std::chrono::milliseconds(200)).value());
  // ... while a commit from elsewhere does, once, however many arrive.
  db_->execute("NOTIFY meshfed_changes, 'another-replica'; NOTIFY meshfed_changes, 'a-third'");
  EXPECT_TRUE(feed->wait(t).value());
  EXPECT_FALSE(feed->wait(std::chrono::milliseconds(50)).value());
  // A lost connection is reported, and the reconnected feed says it may have missed commits.
  end_other_sessions(*db_);
  bool lost = false;
  for (int i = 0; i < 20 && !lost; ++i) lost = !feed->wait(std::chrono::milliseconds(100)).ok();
  EXPECT_TRUE(lost);
  const auto reconnected = feed->wait(t);
  ASSERT_TRUE(reconnected.ok()) << reconnected.error().message;
  EXPECT_TRUE(*reconnected);
}

// Replicas re-derive their state at every notice, so a write transaction that changed no row
// (the leader's reconcile finding everything in place) must not send one.
TEST_P(SharedStoreTest, OnlyACommitThatChangedRowsIsAnnounced) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> listener(PQconnectdb(conninfo_.c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(listener.get()), CONNECTION_OK) << PQerrorMessage(listener.get());
  PQclear(PQexec(listener.get(), "LISTEN meshfed_changes"));
  ASSERT_TRUE(write([&](const Writer& tx) { (void)AuditRepository(tx).head(); }).ok());
  ASSERT_TRUE(write([&](const Writer& tx) {
                Statement s(tx, "UPDATE meta SET value = ? WHERE key = ?");
                s.bind(1, "x");
                s.bind(2, "no-such-key");
                s.exec();
              }).ok());
  ASSERT_TRUE(
      write([&](const Writer& tx) { must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {})); }).ok());
  // Notices arrive in commit order: when the third commit's is here, any earlier one would be too.
  int notices = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (notices == 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{PQsocket(listener.get()), POLLIN, 0};
    ::poll(&p, 1, 100);
    PQconsumeInput(listener.get());
    while (PGnotify* n = PQnotifies(listener.get())) {
      ++notices;
      PQfreemem(n);
    }
  }
  EXPECT_EQ(notices, 1);
}

// The server restarting (or an administrator ending the session) costs the store the statement
// in flight, not the broker: the next one reconnects.
TEST_P(SharedStoreTest, TheStoreReconnectsAfterItsSessionWasEnded) {
  auto other = open();
  end_other_sessions(*other);
  EXPECT_FALSE(
      write([&](const Writer& tx) { must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {})); }).ok());
  ASSERT_TRUE(
      write([&](const Writer& tx) { must(AuditRepository(tx).append(from_unix_ms(0), "alice", "x", "y", {})); }).ok());
  EXPECT_EQ(read<AuditRepository::Head>([&](const Reader& tx) { return AuditQueries(tx).head(); }).seq, 1);
}

// The read pool answers beside the store thread: it sees what the writer committed, and a read
// sees one snapshot however the writer commits meanwhile.
TEST_P(StoreBackendTest, TheReadPoolSeesCommitsAndReadsOneSnapshot) {
  auto reads = pool(2);
  auto revision = [&] {
    int64_t r = -1;
    EXPECT_TRUE(reads
                    ->read([&](Reader& tx) -> Status {
                      r = must(CatalogQueries(tx).revision());
                      return {};
                    })
                    .ok());
    return r;
  };
  ASSERT_TRUE(write([&](const Writer& tx) {
                must(ExportRepository(tx).insert(an_export("a", {"dmz"})));
                must(ExportRepository(tx).insert(an_export("b", {"dmz"})));
              }).ok());
  const int64_t before = revision();
  ASSERT_TRUE(write([&](const Writer& tx) { must(CatalogRepository(tx).record_change("a", 1)); }).ok());
  EXPECT_EQ(revision(), before + 1);

  int64_t first = 0, second = 0;
  ASSERT_TRUE(reads
                  ->read([&](Reader& tx) -> Status {
                    first = must(CatalogQueries(tx).revision());
                    EXPECT_TRUE(write([&](const Writer& w) { must(CatalogRepository(w).record_change("b", 2)); }).ok());
                    second = must(CatalogQueries(tx).revision());
                    return {};
                  })
                  .ok());
  EXPECT_EQ(first, before + 1);
  EXPECT_EQ(second, first);  // the writer's commit landed inside this read: not seen half-way
  EXPECT_EQ(revision(), before + 2);
}

// Its connections only read: a write through one fails, and changes nothing.
TEST_P(StoreBackendTest, TheReadPoolRefusesWrites) {
  auto reads = pool(1);
  const Status st = reads->read([&](Reader& tx) -> Status {
    Statement(tx, "INSERT INTO meta(key, value) VALUES ('written', 'by a reader')").exec();
    return {};
  });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(read<int64_t>([&](const Reader& tx) {
              Statement s(tx, "SELECT COUNT(*) FROM meta WHERE key = 'written'");
              s.step();
              return s.int64(0);
            }),
            0);
  // The connection went back to the pool and still reads.
  EXPECT_TRUE(reads
                  ->read([&](Reader& tx) -> Status {
                    (void)CatalogQueries(tx).revision();
                    return {};
                  })
                  .ok());
}

// More readers than connections: the others wait their turn, on any thread, and every read
// gets its answer.
TEST_P(StoreBackendTest, ReadersBeyondThePoolWaitForAConnection) {
  auto reads = pool(1);
  std::atomic<bool> release{false};
  std::thread holder([&] {
    EXPECT_TRUE(reads
                    ->read([&](Reader& tx) -> Status {
                      (void)CatalogQueries(tx).revision();
                      while (!release) std::this_thread::yield();  // until the other reader waits
                      return {};
                    })
                    .ok());
  });
  std::thread waiter([&] {
    while (reads->waited() == 0) {
      // The holder may not have taken the connection yet: read until one read had to wait.
      EXPECT_TRUE(reads->read([&](Reader&) -> Status { return {}; }).ok());
    }
  });
  while (reads->waited() == 0) std::this_thread::yield();
  release = true;
  holder.join();
  waiter.join();
  EXPECT_GE(reads->waited(), 1);
  EXPECT_EQ(reads->size(), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreBackendTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& test) { return test.param; });
INSTANTIATE_TEST_SUITE_P(Backends, SharedStoreTest, ::testing::Values("postgres"),
                         [](const auto& test) { return test.param; });

}  // namespace
}  // namespace meshfed::store
