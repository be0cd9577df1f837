// Three brokers of domain pci as replicas sharing one real PostgreSQL (the tests' own cluster),
// federated with domain internal (one broker on SQLite), all real processes on loopback: one
// replica leads, any replica serves, a commit on one wakes the others, and the domain survives
// its leader's crash and its database's restart.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>

#include <atomic>
#include <deque>
#include <thread>

#include "meshfed/store/migrations.hpp"
#include "approve.hpp"
#include "support/net_support.hpp"
#include "support/postgres_cluster.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fed_ = std::make_unique<Federation>(
        std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}});
    auto& pci = fed_->domain("pci");
    const std::string conninfo = PostgresCluster::shared().create_database();
    write_file(pci.dir / "pg-url", conninfo + "\n");
    pci.config["store"] = {{"type", "postgres"}, {"url_file", "pg-url"}};
    if (first_through_proxy_) {
      proxy_ = std::make_unique<FreezableProxy>(PostgresCluster::shared().port());
      // libpq takes the last of a repeated keyword: pci-a reaches the database through the proxy.
      write_file(pci.dir / "pg-url-a", conninfo + " port=" + std::to_string(proxy_->port()) + "\n");
      pci.config["store"]["url_file"] = "pg-url-a";
    }
    pci.config["replica_id"] = "pci-a";
    if (on_kuma_) {
      kuma_ = std::make_unique<KumaEmulator>(pci.dir / "kuma");
      pci.config["control_plane"] = kuma_->serve_domain(pci.dir);
    }
    conninfo_ = conninfo;
    pci.save_config();
    fed_->start_all();
    fed_->connect();  // pci's config now names internal's peer API: the other replicas copy it
    replicas_["pci-a"] = &fed_->broker("pci");
    for (const std::string id : {"pci-b", "pci-c"}) {
      json cfg = pci.config;
      cfg["replica_id"] = id;
      cfg["state_dir"] = "state-" + id;
      cfg["store"]["url_file"] = "pg-url";
      const auto file = pci.dir / (id + ".json");
      write_file(file, cfg.dump(2));
      own_.push_back(std::make_unique<BrokerProcess>(file, pci.dir / ("state-" + id), std::vector<std::string>{},
                                                     pci.dir / (id + ".log")));
      own_.back()->start();
      replicas_[id] = own_.back().get();
    }
    ASSERT_TRUE(wait_until([&] { return listed("pci-b").size() == 3 && !leader_seen_by("pci-b").empty(); }))
        << replicas_seen_by("pci-b").dump();
  }

  ApiResult call(const std::string& replica, const std::string& method, const std::string& target,
                 const std::string& who, const std::optional<json>& body = std::nullopt) {
    auto c = replicas_.at(replica)->client(fed_->domain("pci").dir / "pki/ca.pem");
    return api_call(*c, method, target, fed_->domain("pci").tokens.at(who), body);
  }

  json replicas_seen_by(const std::string& replica) {
    auto r = call(replica, "GET", "/api/v1/replicas", "victor");
    return r.status == 200 ? r.body["items"] : json::array();
  }
  std::set<std::string> listed(const std::string& replica) {
    std::set<std::string> ids;
    for (const auto& r : replicas_seen_by(replica)) ids.insert(r["id"].get<std::string>());
    return ids;
  }
  std::string leader_seen_by(const std::string& replica) {
    std::string leader;
    for (const auto& r : replicas_seen_by(replica)) {
      if (r["role"] == "leader") leader = r["id"];
    }
    return leader;
  }
  // meshfed_replica_leader as the replica itself exposes it; -1 when it does not answer.
  int leader_gauge(const std::string& replica) {
    auto c = replicas_.at(replica)->client(fed_->domain("pci").dir / "pki/ca.pem");
    auto r = c->request("GET", "/metrics");
    if (!r || r->status != 200) return -1;
    const auto at = r->body.find("\nmeshfed_replica_leader ");
    return at == std::string::npos ? -1 : std::stoi(r->body.substr(at + 24));
  }
  // Of `ids`, the one whose gauge says it leads; empty unless exactly one does.
  std::string leader_among(const std::vector<std::string>& ids) {
    std::vector<std::string> leaders;
    for (const auto& id : ids) {
      if (leader_gauge(id) == 1) leaders.push_back(id);
    }
    return leaders.size() == 1 ? leaders[0] : "";
  }
  // The replica that says it leads, among those running; empty unless exactly one does.
  std::string sole_leader() {
    std::vector<std::string> leaders;
    for (const auto& [id, b] : replicas_) {
      if (b->running() && leader_gauge(id) == 1) leaders.push_back(id);
    }
    return leaders.size() == 1 ? leaders[0] : "";
  }
  std::vector<std::string> followers() {
    std::vector<std::string> out;
    const auto leader = sole_leader();
    for (const auto& [id, b] : replicas_) {
      if (b->running() && id != leader) out.push_back(id);
    }
    return out;
  }

  std::string request_on(const std::string& replica, const json& extra = json::object()) {
    json body = {
        {"mesh", "default"}, {"service", "payments-api"}, {"port", 8443}, {"peers", {"internal"}}, {"reason", "x"}};
    body.update(extra);
    auto r = call(replica, "POST", "/api/v1/exports", "alice", body);
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.body.value("id", "");
  }

  int audit_count(const std::string& replica, const std::string& action, const std::string& object) {
    int n = 0;
    const auto audit = call(replica, "GET", "/api/v1/audit?limit=1000", "victor");
    for (const auto& e : audit.body["items"]) {
      n += e["action"] == action && e["object"] == object;
    }
    return n;
  }

  // internal's watcher of pci long-polls this replica's peer API.
  void point_internal_at(const std::string& replica) {
    auto& internal = fed_->domain("internal");
    const auto rt = json::parse(read_file(fed_->domain("pci").dir / ("state-" + replica) / "runtime.json"));
    internal.config["peers"][0]["url"] = "https://" + rt["peer_api"].get<std::string>();
    internal.save_config();
    fed_->broker("internal").signal(SIGHUP);
  }

  bool imported(const std::string& export_id) {
    return fs::exists(fed_->domain("internal").dir / "imports" / ("meshfed-pci." + export_id + ".json"));
  }

  bool on_kuma_ = false;  // pci's control plane is the Kuma emulator (kuma_)
  std::unique_ptr<KumaEmulator> kuma_;
  std::string conninfo_;
  bool first_through_proxy_ = false;       // pci-a's path to PostgreSQL can be cut (proxy_)
  std::unique_ptr<FreezableProxy> proxy_;  // outlives the brokers
  std::unique_ptr<Federation> fed_;
  std::vector<std::unique_ptr<BrokerProcess>> own_;
  std::map<std::string, BrokerProcess*> replicas_;
};

TEST_F(ReplicasTest, OneReplicaLeadsAndAnotherTakesOverWhenItIsKilled) {
  const std::string leader = sole_leader();
  ASSERT_FALSE(leader.empty());
  for (const auto& id : {"pci-a", "pci-b", "pci-c"}) EXPECT_EQ(leader_seen_by(id), leader);
  // An export approved on a follower expires on whoever leads then, exactly once.
  const auto f = followers();
  ASSERT_EQ(f.size(), 2u);
  const std::string id = request_on(f[0], {{"ttl_s", 3}});
  ASSERT_EQ(call(f[1], "POST", "/api/v1/exports/" + id + "/approve", "bob").status, 200);
  replicas_.at(leader)->kill_hard();
  std::string next;
  ASSERT_TRUE(wait_until([&] { return !(next = sole_leader()).empty(); }, 15s));
  EXPECT_NE(next, leader);
  EXPECT_TRUE(wait_until([&] { return leader_seen_by(f[0]) == next; }));
  EXPECT_TRUE(
      wait_until([&] { return call(f[0], "GET", "/api/v1/exports/" + id, "victor").body["state"] == "expired"; }));
  EXPECT_EQ(audit_count(f[1], "export.expired", "export/" + id), 1);
  EXPECT_EQ(audit_count(f[1], "replica.elected", "broker/pci"), 2);
  EXPECT_EQ(call(next, "GET", "/readyz", "victor").body["checks"]["replica"], "leader");
}

// The peer long-polls a follower; the export is requested and approved on the other replicas,
// whose commits wake that long-poll (LISTEN/NOTIFY); after the leader dies, a revocation sent
// to a survivor reaches the peer too.
TEST_F(ReplicasTest, WhatAnyReplicaCommitsReachesThePeerThroughAnotherAlsoAfterTheLeaderDies) {
  const std::string leader = sole_leader();
  const auto f = followers();
  ASSERT_EQ(f.size(), 2u);
  point_internal_at(f[0]);
  const std::string id = request_on(f[1]);
  ASSERT_EQ(call(leader, "POST", "/api/v1/exports/" + id + "/approve", "bob").status, 200);
  ASSERT_TRUE(wait_until([&] { return imported(id); })) << fed_->broker("internal").log();
  replicas_.at(leader)->kill_hard();
  ASSERT_EQ(call(f[1], "POST", "/api/v1/exports/" + id + "/revoke", "bob").status, 200);
  EXPECT_TRUE(wait_until([&] { return !imported(id); })) << fed_->broker("internal").log();
  ASSERT_TRUE(wait_until([&] { return !sole_leader().empty(); }, 15s));
}

// PostgreSQL going away makes every replica unready (and no replica leads); when it is back,
// they recover without a restart: ready, one leader, and writes succeed on each.
TEST_F(ReplicasTest, ReplicasReportUnreadyWhileTheDatabaseIsDownAndRecoverWithoutARestart) {
  PostgresCluster::shared().stop();
  EXPECT_TRUE(wait_until([&] {
    for (const auto& [id, b] : replicas_) {
      if (call(id, "GET", "/readyz", "victor").status != 503) return false;
    }
    return true;
  }));
  EXPECT_TRUE(wait_until(
      [&] {
        for (const auto& [id, b] : replicas_) {
          if (leader_gauge(id) != 0) return false;
        }
        return true;
      },
      15s));
  PostgresCluster::shared().start();
  for (const std::string id : {"pci-a", "pci-b", "pci-c"}) {
    EXPECT_TRUE(wait_until([&] { return call(id, "GET", "/readyz", "victor").status == 200; }, 30s)) << id;
  }
  EXPECT_TRUE(wait_until([&] { return !sole_leader().empty(); }, 15s));
  // One new export on each, each under an alias of its own.
  for (const std::string id : {"pci-a", "pci-b", "pci-c"}) {
    const json body = {{"mesh", "default"}, {"service", "ledger"},   {"port", 5432},
                       {"alias", id},       {"peers", {"internal"}}, {"reason", "after the restart"}};
    int status = 0;
    EXPECT_TRUE(wait_until([&] { return (status = call(id, "POST", "/api/v1/exports", "alice", body).status) == 201; }))
        << id << " answers " << status;
  }
}

// A peer proposed on one replica and approved on another is in force on all three within a
// second: each one's peer API admits the new domain's broker, with no reload and no restart;
// removed on a third, none admits it any longer. The test prints how long each took.
TEST_F(ReplicasTest, APeerApprovedOnOneReplicaIsServedByEveryReplicaAndItsRemovalReachesThemAll) {
  auto dmz = make_domain(fed_->dir() / "dmz", "dmz", {});
  dmz.config["peer_api"] = {{"listen", "127.0.0.1:0"}, {"advertise", "127.0.0.1:9443"}};
  dmz.save_config();
  const auto made = run_meshfed({"peer", "bundle", "--config", dmz.config_file.string(), "-o", "json"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const json bundle = json::parse(made.output);
  // dmz's broker calls a replica's peer API: 403 (unknown peer) or a refused handshake until
  // the replica trusts dmz's CA, then 200.
  auto served_by = [&](const std::string& replica) {
    const auto rt = json::parse(read_file(
        fed_->domain("pci").dir / (replica == "pci-a" ? std::string("state") : "state-" + replica) / "runtime.json"));
    const std::string ep = rt["peer_api"];
    auto o = http::ClientOptions::verifying("127.0.0.1", static_cast<uint16_t>(std::stoi(ep.substr(ep.rfind(':') + 1))),
                                            fed_->domain("pci").dir / "pki/ca.pem");
    o.cert_file = dmz.dir / "pki/broker.pem";
    o.key_file = dmz.dir / "pki/broker-key.pem";
    auto c = http::HttpsClient::create(o);
    if (!c) return false;
    auto r = (*c)->request("GET", "/federation/v1/catalog");
    return r && r->status == 200;
  };
  for (const std::string id : {"pci-a", "pci-b", "pci-c"}) EXPECT_FALSE(served_by(id)) << id;

  const auto proposed = call("pci-b", "POST", "/api/v1/peers", "root",
                             json{{"bundle", bundle["bundle"]},
                                  {"fingerprint", bundle["fingerprint"]},
                                  {"import_policy", "manual"},
                                  {"reason", "CHG-7"}});
  ASSERT_EQ(proposed.status, 201) << proposed.body.dump();
  ASSERT_EQ(call("pci-c", "POST", "/api/v1/peers/dmz/approve", "ada").status, 200);
  const auto approved_at = std::chrono::steady_clock::now();
  for (const std::string id : {"pci-a", "pci-b", "pci-c"}) {
    EXPECT_TRUE(wait_until([&] { return served_by(id); }, 1s)) << id << " does not serve dmz a second after";
  }
  std::cout
      << "every replica served the new peer after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - approved_at).count()
      << " ms\n";
  for (const std::string id : {"pci-a", "pci-b", "pci-c"}) {
    EXPECT_EQ(call(id, "GET", "/api/v1/peers", "victor").body["items"][0]["domain"], "dmz") << id;
  }

  // Removed on a third replica: every replica stops serving dmz.
  ASSERT_EQ(call("pci-a", "DELETE", "/api/v1/peers/dmz", "ada", json{{"reason", "trial over"}}).status, 200);
  const auto removed_at = std::chrono::steady_clock::now();
  for (const std::string id : {"pci-a", "pci-b", "pci-c"}) {
    EXPECT_TRUE(wait_until([&] { return !served_by(id); }, 1s)) << id << " still serves dmz a second after";
  }
  std::cout
      << "every replica refused the removed peer after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - removed_at).count()
      << " ms\n";
}

class ReplicaCutOffTest : public ReplicasTest {
 protected:
  ReplicaCutOffTest() { first_through_proxy_ = true; }
};

// When `phrase` was logged first: the RFC 3339 time that starts its line, or empty.
std::string logged_at(const std::string& log, const std::string& phrase) {
  const auto at = log.find(phrase);
  if (at == std::string::npos) return "";
  const auto line = log.rfind('\n', at);
  const auto start = line == std::string::npos ? 0 : line + 1;
  return log.substr(start, log.find(' ', start) - start);
}

// The leader's path to PostgreSQL goes silent (nothing is closed: a cut cable). It stops leading
// on its own, and only afterwards does the server end its idle session and let another replica
// take the lock: never two replicas running the import state machine at once.
TEST_F(ReplicaCutOffTest, ALeaderCutOffFromTheDatabaseStepsDownBeforeAnotherTakesOver) {
  ASSERT_EQ(sole_leader(), "pci-a");  // started first
  proxy_->freeze();
  std::string next;
  ASSERT_TRUE(wait_until([&] { return !(next = leader_among({"pci-b", "pci-c"})).empty(); }, 30s));
  const auto stepped_down = logged_at(replicas_.at("pci-a")->log(), "no longer leads the domain");
  const auto took_over = logged_at(replicas_.at(next)->log(), "now leads the domain");
  ASSERT_FALSE(stepped_down.empty()) << replicas_.at("pci-a")->log();
  ASSERT_FALSE(took_over.empty()) << replicas_.at(next)->log();
  EXPECT_LT(stepped_down, took_over);
}

// The first column of each row `sql` returns, run on its own connection to `conninfo`.
std::vector<std::string> sql_column(const std::string& conninfo, const std::string& sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn.get(), sql.c_str()), &PQclear);
  std::vector<std::string> out;
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return out;
  for (int i = 0; i < PQntuples(r.get()); ++i) out.emplace_back(PQgetvalue(r.get(), i, 0));
  return out;
}

class ReplicasOnKumaTest : public ReplicasTest {
 protected:
  ReplicasOnKumaTest() { on_kuma_ = true; }

  int64_t newest_term() {
    const auto v = sql_column(conninfo_, "SELECT COALESCE(MAX(term), 0) FROM leader_terms");
    return v.empty() ? -1 : std::stoll(v[0]);
  }
  // What the server of PostgreSQL does to a session it ends: the leader's lock goes at once,
  // and the leader learns it only at its next confirmation.
  void end_the_leaders_session() {
    (void)sql_column(conninfo_,
                     "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                     "((classid::bigint << 32) | objid::bigint) = 7235841093125160040");
  }
  json writes() { return kuma_->call("GET", "/_emulator/writes").second; }
  // Operators at work on every replica: exports requested, approved and revoked, each under an
  // alias of its own, failures (a paused database) shrugged off. Runs until `stop`.
  void operators(const std::atomic<bool>& stop, std::atomic<int>& done) {
    const std::vector<std::string> ids = {"pci-a", "pci-b", "pci-c"};
    std::deque<std::string> approved;
    for (int n = 0; !stop; ++n) {
      const std::string& on = ids[n % 3];
      try {
        json body = {{"mesh", "default"},     {"service", "payments-api"}, {"port", 8443},
                     {"peers", {"internal"}}, {"reason", "load"},          {"alias", "load-" + std::to_string(n)}};
        auto r = call(on, "POST", "/api/v1/exports", "alice", body);
        if (r.status != 201) continue;
        const std::string id = r.body["id"];
        if (call(ids[(n + 1) % 3], "POST", "/api/v1/exports/" + id + "/approve", "bob").status == 200) {
          approved.push_back(id);
        }
        while (approved.size() > 4) {
          (void)call(ids[(n + 2) % 3], "POST", "/api/v1/exports/" + approved.front() + "/revoke", "bob");
          approved.pop_front();
        }
        ++done;
      } catch (const std::exception&) {
        // a replica that does not answer now: the next one is asked
      }
    }
  }
};

// Leadership is fenced by terms. The server ends the leader's session again and again, often
// while the new leader is still handing its state to the control plane (a lease lost during
// elected()), sometimes while it writes; then the database is paused for 5 s; all while exports
// are approved and revoked on every replica. The emulator records each write with its term:
// every write carries one, no write of a term arrives after a later term's first write, nor
// after the next term may write (one lease after its election); and the control plane ends as
// the store says.
TEST_F(ReplicasOnKumaTest, NoWriteOfADeposedTermLandsOnceTheNextTermWrites) {
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  std::thread load([&] { operators(stop, done); });
  struct Joined {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joined() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joined{stop, load};
  int64_t term = 0;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(wait_until([&] { return newest_term() > term; }, 30s)) << "no election after " << term;
    term = newest_term();
    if (i % 2 == 1) {
      // This time the term gets to write before its session ends.
      EXPECT_TRUE(wait_until(
          [&] {
            for (const auto& w : writes()) {
              if (w["term"] == term) return true;
            }
            return false;
          },
          30s))
          << "term " << term << " never wrote";
    }
    end_the_leaders_session();
  }
  ASSERT_TRUE(wait_until([&] { return newest_term() > term; }, 30s));
  PostgresCluster::shared().pause();
  std::this_thread::sleep_for(5s);  // the fault's length, not a wait for an outcome
  PostgresCluster::shared().resume();
  ASSERT_TRUE(wait_until([&] { return done > 20; }, 60s)) << done;
  stop = true;
  load.join();

  // The control plane converges on the store: one permission per approved export.
  const auto approved = [&] {
    auto r = call("pci-a", "GET", "/api/v1/exports?state=approved&limit=1000", "victor");
    return r.status == 200 ? r.body["items"].size() : size_t{0};
  };
  const auto permissions = [&] {
    size_t n = 0;
    const json list = kuma_->call("GET", "/meshes/default/meshtrafficpermissions?size=1000").second;
    for (const auto& r : list["items"]) {
      n += r.contains("labels") && r["labels"].value("meshfed.io/managed-by", "") == "meshfed";
    }
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return approved() > 0 && permissions() == approved(); }, 60s))
      << permissions() << " permissions for " << approved() << " approved exports; the leader's log:\n"
      << (sole_leader().empty() ? "(no sole leader)" : replicas_.at(sole_leader())->log());

  std::map<int64_t, int64_t> started;  // term -> its start, on the server's clock
  for (const auto& row : sql_column(conninfo_, "SELECT term || ' ' || started_ms FROM leader_terms")) {
    started[std::stoll(row.substr(0, row.find(' ')))] = std::stoll(row.substr(row.find(' ') + 1));
  }
  const auto all = writes();
  std::set<int64_t> terms_that_wrote;
  int64_t highest = 0;
  for (const auto& w : all) {
    ASSERT_TRUE(w["term"].is_number()) << "a write without a term: " << w.dump();
    const int64_t t = w["term"];
    terms_that_wrote.insert(t);
    EXPECT_GE(t, highest) << "term " << t << " wrote after term " << highest << " had begun writing: " << w.dump();
    highest = std::max(highest, t);
    const auto next = started.upper_bound(t);
    if (next != started.end()) {
      EXPECT_LT(w["at_ms"].get<int64_t>(), next->second + 4000)
          << "term " << t << " wrote after term " << next->first << " could: " << w.dump();
    }
  }
  EXPECT_GE(terms_that_wrote.size(), 4u) << all.size() << " writes";
  EXPECT_GE(newest_term(), 10);
}

// A domain moves from its SQLite file to PostgreSQL with `meshfed store copy`; the broker then
// runs on the copy with its exports and audit chain as they were.
TEST(StoreCopy, ADomainMovesFromSqliteToPostgresWithItsExportsAndAuditChain) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  BrokerProcess sqlite_broker(d.config_file, d.state_dir);
  sqlite_broker.start();
  std::string id;
  {
    auto c = sqlite_broker.client(d.dir / "pki/ca.pem");
    auto r = api_call(*c, "POST", "/api/v1/exports", d.tokens.at("alice"),
                      json{{"mesh", "default"},
                           {"service", "payments-api"},
                           {"port", 8443},
                           {"peers", {"internal"}},
                           {"reason", "checkout"}});
    ASSERT_EQ(r.status, 201) << r.body.dump();
    id = r.body["id"];
    ASSERT_EQ(api_call(*c, "POST", "/api/v1/exports/" + id + "/approve", d.tokens.at("bob")).status, 200);
  }
  ASSERT_EQ(sqlite_broker.stop(), 0);

  write_file(dir.path() / "pg-url", PostgresCluster::shared().create_database());
  json pg = d.config;
  pg["store"] = {{"type", "postgres"}, {"url_file", "pg-url"}};
  pg["state_dir"] = "state-pg";
  const auto pg_config = dir.path() / "pci-pg.json";
  write_file(pg_config, pg.dump(2));
  auto migrated = run_meshfed({"store", "migrate", "--config", pg_config.string()});  // an empty database
  ASSERT_EQ(migrated.exit_code, 0) << migrated.output;
  const std::string newest = "schema version " + std::to_string(store::embedded_postgres_migrations().size());
  EXPECT_NE(migrated.output.find(newest), std::string::npos) << migrated.output;
  const std::vector<std::string> copy = {"store", "copy", "--from", d.config_file.string(), "--to", pg_config.string()};
  auto copied = run_meshfed(copy);
  ASSERT_EQ(copied.exit_code, 0) << copied.output;
  EXPECT_NE(copied.output.find("1 exports"), std::string::npos) << copied.output;
  EXPECT_NE(copied.output.find("audit chain ok"), std::string::npos) << copied.output;
  auto verified = run_meshfed({"audit", "verify", "--config", pg_config.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  auto again = run_meshfed(copy);  // a copy never merges
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("already holds state"), std::string::npos) << again.output;
  // backup and restore are the SQLite file's: on PostgreSQL they say what to use instead.
  for (const auto& [command, option] : {std::pair{"backup", "--out"}, std::pair{"restore", "--from"}}) {
    auto refused = run_meshfed({command, "--config", pg_config.string(), option, (dir.path() / "x.db").string()});
    EXPECT_EQ(refused.exit_code, 4) << refused.output;
    EXPECT_NE(refused.output.find("store.type is postgres: meshfed " + std::string(command) +
                                  " works on the SQLite file; use PostgreSQL's own tools (pg_dump"),
              std::string::npos)
        << refused.output;
    EXPECT_FALSE(fs::exists(dir.path() / "x.db"));
  }

  BrokerProcess pg_broker(pg_config, dir.path() / "state-pg", {}, dir.path() / "pg-broker.log");
  pg_broker.start();
  auto c = pg_broker.client(d.dir / "pki/ca.pem");
  auto got = api_call(*c, "GET", "/api/v1/exports/" + id, d.tokens.at("victor"));
  EXPECT_EQ(got.body["state"], "approved") << got.body.dump();
  EXPECT_TRUE(wait_until([&] {
    auto replicas = api_call(*c, "GET", "/api/v1/replicas", d.tokens.at("victor")).body["items"];
    return replicas.size() == 1 && replicas[0]["role"] == "leader";
  }));
}

}  // namespace
}  // namespace meshfed::testing
